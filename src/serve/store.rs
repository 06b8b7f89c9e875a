//! Build records in, lookups and list pages out: the emulator's memory of every build, newest last.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::api::{BuildList, BuildStatus};

use super::ids::IdGen;
use super::record::{page_of, BuildRecord, PageRequest};

/// Every build this emulator knows, in order of submission.
#[derive(Debug)]
pub struct Store {
    records: Vec<BuildRecord>,
    index: HashMap<String, usize>,
    ids: IdGen,
    next_seq: u64,
}

impl Store {
    /// A store holding `loaded` (records read back from the data dir).
    pub fn new(mut loaded: Vec<BuildRecord>, ids: IdGen) -> Store {
        loaded.sort_by(|a, b| (a.seq, &a.id).cmp(&(b.seq, &b.id)));
        let next_seq = loaded.last().map_or(1, |r| r.seq + 1);
        let index = loaded
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id.clone(), i))
            .collect();
        Store {
            records: loaded,
            index,
            ids,
            next_seq,
        }
    }

    /// A new PENDING build with a fresh id, not yet in the store: it goes in
    /// with [`Store::insert`] once its upload is safely on disk.
    pub fn create(&mut self, function_id: String, now: DateTime<Utc>) -> BuildRecord {
        let secs = u64::try_from(now.timestamp()).unwrap_or(0);
        let mut id = self.ids.next(secs);
        while self.index.contains_key(&id) {
            id = self.ids.next(secs);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        BuildRecord::new(id, seq, function_id, now)
    }

    pub fn insert(&mut self, record: BuildRecord) {
        if let Some(&i) = self.index.get(&record.id) {
            self.records[i] = record;
            return;
        }
        // Concurrent uploads may finish writing out of order; keep the
        // records sorted by submission all the same.
        let at = self.records.partition_point(|r| r.seq < record.seq);
        self.records.insert(at, record);
        for (i, r) in self.records.iter().enumerate().skip(at) {
            self.index.insert(r.id.clone(), i);
        }
    }

    pub fn get(&self, id: &str) -> Option<&BuildRecord> {
        self.index.get(id).map(|&i| &self.records[i])
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut BuildRecord> {
        self.index.get(id).map(|&i| &mut self.records[i])
    }

    /// Ids of the builds that were still moving when they were stored.
    pub fn unfinished(&self) -> Vec<String> {
        self.records
            .iter()
            .filter(|r| matches!(r.status(), BuildStatus::Pending | BuildStatus::Building))
            .map(|r| r.id.clone())
            .collect()
    }

    /// One page of the list route, newest first.
    pub fn page(&self, request: &PageRequest) -> BuildList {
        let matching: Vec<&BuildRecord> = self
            .records
            .iter()
            .rev()
            .filter(|r| {
                request
                    .function_id
                    .as_ref()
                    .is_none_or(|f| *f == r.function_id)
            })
            .collect();
        let page = page_of(matching.len(), request.page, request.limit);
        BuildList {
            page_count: page.page_count,
            page_size: request.limit,
            total_count: matching.len() as u64,
            results: matching[page.rows].iter().map(|r| r.summary()).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const F1: &str = "aaaaaaaaaaaaaaaaaaaaaaaa";
    const F2: &str = "bbbbbbbbbbbbbbbbbbbbbbbb";

    fn store_with(functions: &[&str]) -> (Store, Vec<String>) {
        let mut store = Store::new(Vec::new(), IdGen::with_parts([1; 5], 0));
        let ids = functions
            .iter()
            .map(|f| {
                let record = store.create(f.to_string(), Utc::now());
                let id = record.id.clone();
                store.insert(record);
                id
            })
            .collect();
        (store, ids)
    }

    fn request(page: u64, limit: u64, function_id: Option<&str>) -> PageRequest {
        PageRequest {
            page,
            limit,
            function_id: function_id.map(str::to_string),
        }
    }

    #[test]
    fn pages_are_newest_first_and_filtered() {
        let (store, ids) = store_with(&[F1, F2, F1, F1, F2]);
        let cases = [
            // (request, page_count, total, ids on the page)
            (request(1, 1, None), 5, 5, vec![4]),
            (request(1, 2, None), 3, 5, vec![4, 3]),
            (request(3, 2, None), 3, 5, vec![0]),
            (request(4, 2, None), 3, 5, vec![]),
            (request(1, 10, Some(F1)), 1, 3, vec![3, 2, 0]),
            (request(2, 1, Some(F2)), 2, 2, vec![1]),
            (
                request(1, 5, Some("cccccccccccccccccccccccc")),
                0,
                0,
                vec![],
            ),
        ];
        for (req, page_count, total, want) in cases {
            let list = store.page(&req);
            let got: Vec<&str> = list.results.iter().map(|r| r.id.as_str()).collect();
            let want: Vec<&str> = want.iter().map(|&i| ids[i].as_str()).collect();
            assert_eq!(
                (list.page_count, list.page_size, list.total_count, got),
                (page_count, req.limit, total, want),
                "{req:?}"
            );
        }
    }

    #[test]
    fn loaded_records_keep_their_order_and_new_ones_follow() {
        let (old, ids) = store_with(&[F1, F2]);
        let loaded = vec![
            old.get(&ids[1]).unwrap().clone(),
            old.get(&ids[0]).unwrap().clone(),
        ];
        let mut store = Store::new(loaded, IdGen::with_parts([2; 5], 0));
        let record = store.create(F1.into(), Utc::now());
        assert_eq!(record.seq, 3);
        let newest = record.id.clone();
        store.insert(record);
        let list = store.page(&request(1, 10, None));
        let got: Vec<&str> = list.results.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(got, vec![newest.as_str(), &ids[1], &ids[0]]);
        assert_eq!(store.unfinished().len(), 3);
    }

    #[test]
    fn out_of_order_inserts_stay_sorted() {
        let mut store = Store::new(Vec::new(), IdGen::new());
        let first = store.create(F1.into(), Utc::now());
        let second = store.create(F1.into(), Utc::now());
        let (a, b) = (first.id.clone(), second.id.clone());
        store.insert(second);
        store.insert(first);
        let list = store.page(&request(1, 10, None));
        let got: Vec<&str> = list.results.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(got, vec![b.as_str(), a.as_str()]);
        assert_eq!(store.get(&a).unwrap().seq, 1);
        assert_eq!(store.get(&b).unwrap().seq, 2);
    }
}
