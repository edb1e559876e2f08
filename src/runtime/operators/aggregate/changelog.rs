//! The aggregation's state in the changelog, and its restore.
//!
//! Records (after the component byte, see `runtime::state`):
//! - `G` + window start (8 bytes, windowed only) + the group key in the row
//!   format → window end, record time (8 bytes each) and every aggregate's
//!   intermediate state fields in one row-format row; a tombstone when the
//!   group is gone (a closed window, a merged session);
//! - `P` + a table key → the row it last contributed (aggregations over a
//!   table, so that its next update can be retracted);
//! - `T` → the stream time of each input partition (8 bytes each).

use arrow::array::ArrayRef;

use super::{Aggregate, Windowing};
use crate::error::{Error, Result};
use crate::runtime::state::{conform, take_i64, StateWriter};

const GROUP: u8 = b'G';
const PREVIOUS: u8 = b'P';
const STREAM_TIME: u8 = b'T';

impl Aggregate {
    /// What the state looks like, for the changelog's fingerprint: a change
    /// of keys, window or aggregates changes it.
    pub(super) fn layout(&self) -> String {
        let keys: Vec<String> = self.spec.output_schema.fields()[..self.spec.key_columns]
            .iter()
            .map(|f| f.data_type().to_string())
            .collect();
        format!(
            "aggregate/1 keys [{}] window {:?} table {} states [{}]",
            keys.join(", "),
            self.spec.window.map(|w| w.windowing),
            self.spec.table_key.is_some(),
            self.state_types
                .iter()
                .map(|t| t.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }

    /// Writes the groups changed and deleted since the last call, the
    /// retraction rows that changed and the stream times.
    pub(super) fn write_changes(&mut self, out: &mut StateWriter) -> Result<()> {
        if !self.changelog {
            return Ok(());
        }
        self.checkpoint_generation += 1;
        let windowed = self.windowed();
        // Deletions first: a key deleted and created again in the same
        // interval ends up present.
        for (key, start, _) in std::mem::take(&mut self.deleted) {
            let start = start.to_be_bytes();
            let start: &[u8] = if windowed { &start } else { &[] };
            out.delete(&[&[GROUP], start, key.row().as_ref()]);
        }
        let changed: Vec<u32> = std::mem::take(&mut self.changed)
            .into_iter()
            .filter(|&s| self.slots[s as usize].live)
            .collect();
        if !changed.is_empty() {
            let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.state_types.len());
            for agg in &mut self.aggregators {
                columns.extend(agg.state(&changed)?);
            }
            let rows = match &self.state_rows {
                Some(converter) => {
                    let columns = conform(columns, &self.state_types)?;
                    Some(converter.convert_columns(&columns)?)
                }
                None => None,
            };
            for (i, &s) in changed.iter().enumerate() {
                let slot = &self.slots[s as usize];
                let start = slot.start.to_be_bytes();
                let start: &[u8] = if windowed { &start } else { &[] };
                let state: &[u8] = rows.as_ref().map_or(&[], |r| r.row(i).data());
                out.put(
                    &[&[GROUP], start, slot.key.row().as_ref()],
                    &[&slot.end.to_be_bytes(), &slot.time.to_be_bytes(), state],
                );
            }
        }
        for tk in std::mem::take(&mut self.previous_changed) {
            match self.previous.get(&tk) {
                Some(row) => out.put(&[&[PREVIOUS], &tk], &[row]),
                None => out.delete(&[&[PREVIOUS], &tk]),
            }
        }
        if std::mem::take(&mut self.stream_time_changed) {
            let times: Vec<u8> = self
                .stream_times
                .iter()
                .flat_map(|t| t.to_be_bytes())
                .collect();
            out.put(&[&[STREAM_TIME]], &[&times]);
        }
        Ok(())
    }

    /// Rebuilds the state of input partition `partition` from the latest
    /// record of each key.
    pub(super) fn restore_records(
        &mut self,
        partition: i32,
        records: &[(&[u8], &[u8])],
    ) -> Result<()> {
        let p = usize::try_from(partition).unwrap_or(0);
        self.current = p;
        let windowed = self.windowed();
        let sessions = matches!(
            self.spec.window.map(|w| w.windowing),
            Some(Windowing::Session { .. })
        );
        let keys = self.keys.parser();
        let mut slots = Vec::new();
        let mut states: Vec<&[u8]> = Vec::new();
        for &(key, value) in records {
            let Some((&kind, rest)) = key.split_first() else {
                continue;
            };
            match kind {
                GROUP => {
                    let (start, group_key) = if windowed { take_i64(rest)? } else { (0, rest) };
                    let (end, value) = take_i64(value)?;
                    let (time, state) = take_i64(value)?;
                    let slot = self.allocate(keys.parse(group_key).owned(), start, end);
                    self.slots[slot as usize].time = time;
                    if sessions {
                        self.sessions
                            .entry(group_key.into())
                            .or_default()
                            .push(slot);
                    } else {
                        let start = start.to_be_bytes();
                        let prefix: &[u8] = if windowed { &start } else { &[] };
                        let map_key = [prefix, group_key].concat().into_boxed_slice();
                        self.groups.insert(map_key, slot);
                    }
                    if windowed {
                        self.open_in(p).insert((end, slot));
                    }
                    slots.push(slot);
                    states.push(state);
                }
                PREVIOUS => {
                    self.previous.insert(rest.into(), value.into());
                }
                STREAM_TIME => {
                    self.stream_times = value
                        .chunks_exact(8)
                        .map(|c| take_i64(c).map(|(t, _)| t))
                        .collect::<Result<_>>()?;
                }
                _ => {
                    return Err(Error::external(format!(
                        "the aggregation changelog has a record of unknown kind {kind}"
                    )))
                }
            }
        }
        if let (Some(converter), false) = (&self.state_rows, slots.is_empty()) {
            let parser = converter.parser();
            let columns = converter.convert_rows(states.iter().map(|b| parser.parse(b)))?;
            let mut at = 0;
            for agg in &mut self.aggregators {
                let n = agg.state_types()?.len();
                let fields = columns.get(at..at + n).ok_or_else(|| {
                    Error::internal("the aggregation changelog has too few state fields")
                })?;
                agg.restore(&slots, fields)?;
                at += n;
            }
        }
        Ok(())
    }
}
