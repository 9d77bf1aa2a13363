//! Power loss: the kernel writes a mapping's dirty pages back in any order, so a
//! power cut leaves the image of the last completed sync plus any subset of the
//! 4 KiB pages written since, each in one of the versions it had. For many random
//! journals (records of 1 byte to a few KiB, so records cross pages; small
//! segments, so batches cross rolls; every sync policy), this builds such images
//! and checks that each one opens, holds every record a completed sync covered
//! byte for byte, and holds nothing that was not written.
//!
//! The model of "the last completed sync" is exact, from what the journal does:
//! a segment is created synced (header, then rename and directory sync); a batch
//! after which `synced()` equals the appended sequence ended with a sync that
//! covered every page but the one sync mark written after it; a batch whose sync
//! fell short of that synced at its last roll, which covers every segment but the
//! new one (and flushes the old one's mark). Page versions are those seen after
//! each batch since that sync.
//!
//! `cargo test` runs a few hundred images; `SEQLANE_POWER_LOSS_IMAGES=5000 cargo
//! test -p seqlane-journal --release --test power_loss` runs thousands, and
//! `SEQLANE_POWER_LOSS_SEED` replays one seed.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use seqlane_journal::format::{self, SyncMark, DATA_START, SEGMENT_HEADER_LEN, SYNC_MARK_LEN};
use seqlane_journal::{Journal, JournalOptions, Reader, SyncPolicy};

const PAGE: usize = 4096;

/// File name to contents.
type Image = BTreeMap<String, Vec<u8>>;

/// A small xorshift generator: the test needs variety, not quality.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }
}

fn read_image(dir: &Path) -> Image {
    let mut image = Image::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        if name.ends_with(".seg") {
            image.insert(name, std::fs::read(entry.path()).unwrap());
        }
    }
    image
}

/// A segment as its creation left it on disk: the header, then zeros.
fn as_created(current: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0; current.len()];
    bytes[..SEGMENT_HEADER_LEN].copy_from_slice(&current[..SEGMENT_HEADER_LEN]);
    bytes
}

/// One journal's history: what was written, the durable image at the last
/// completed sync, and the versions written since.
struct History {
    written: Vec<(u32, Vec<u8>)>,
    durable: Image,
    /// Records every completed sync covered, as the journal reported.
    acknowledged: u64,
    since: Vec<Image>,
}

fn policy(random: &mut Random) -> SyncPolicy {
    match random.below(3) {
        0 => SyncPolicy::EveryBatch,
        1 => SyncPolicy::Interval(Duration::from_micros(random.below(300))),
        _ => SyncPolicy::Never,
    }
}

/// Writes a random journal in `dir` and stops at a random batch (the power cut).
fn write_journal(dir: &Path, random: &mut Random) -> History {
    let segment_size = PAGE as u64 * (2 + random.below(3));
    let options = JournalOptions::default()
        .segment_size(segment_size)
        .sync(policy(random));
    let max_payload = (options.max_payload_len() as u64).min(3 * PAGE as u64);
    let mut journal = Journal::open(dir, options).unwrap();
    let mut history = History {
        written: Vec::new(),
        durable: read_image(dir),
        acknowledged: 0,
        since: Vec::new(),
    };
    let mut previous = history.durable.clone();
    let batches = 1 + random.below(40);
    for _ in 0..batches {
        let size = 1 + random.below(6);
        let first = history.written.len();
        for _ in 0..size {
            let len = match random.below(4) {
                0 => 1 + random.below(16),
                1 => 1 + random.below(max_payload),
                _ => 1 + random.below(600),
            } as usize;
            let seed = random.next();
            let payload: Vec<u8> = (0..len)
                .map(|i| (seed >> (i % 7)) as u8 ^ i as u8)
                .collect();
            history.written.push((random.below(9) as u32, payload));
        }
        let records = &history.written[first..];
        journal
            .append_batch(records.iter().map(|(tag, payload)| (*tag, &payload[..])))
            .unwrap();
        let current = read_image(dir);
        let appended = journal.next_sequence();
        let synced = journal.synced().map_or(0, |s| s + 1);
        let active = current.keys().next_back().unwrap().clone();
        if synced == appended && synced > history.acknowledged {
            // The batch ended with a sync: everything is on disk but the mark the
            // writer stored after it.
            let mut durable = current.clone();
            let bytes = durable.get_mut(&active).unwrap();
            let mark = SyncMark::newest(&bytes[..DATA_START]).expect("a sync writes a mark");
            let at = format::sync_mark_offset(mark.slot());
            let before = previous
                .get(&active)
                .map_or([0; SYNC_MARK_LEN].to_vec(), |b| {
                    b[at..at + SYNC_MARK_LEN].to_vec()
                });
            bytes[at..at + SYNC_MARK_LEN].copy_from_slice(&before);
            history.durable = durable;
            history.since.clear();
        } else if synced > history.acknowledged {
            // The last sync was at a roll: every segment but the new active one.
            let mut durable = current.clone();
            let bytes = durable.get_mut(&active).unwrap();
            *bytes = as_created(bytes);
            history.durable = durable;
            history.since = vec![current.clone()];
        } else {
            history.since.push(current.clone());
        }
        history.acknowledged = synced;
        previous = current;
        if random.chance(12) {
            break;
        }
    }
    // The power cut: the journal is never closed (its drop would sync).
    std::mem::forget(journal);
    history
}

/// Builds one power-loss image: per page, the durable version or one written
/// since. `pick` chooses, per (file index, page index, number of versions), which
/// version (0 = the durable one).
fn power_loss_image(
    history: &History,
    mut pick: impl FnMut(usize, usize, usize) -> usize,
) -> Image {
    let last = history.since.last().unwrap_or(&history.durable);
    let mut image = Image::new();
    for (file, (name, current)) in last.iter().enumerate() {
        let durable = history
            .durable
            .get(name)
            .cloned()
            .unwrap_or_else(|| as_created(current));
        let mut bytes = durable.clone();
        for page in 0..current.len().div_ceil(PAGE) {
            let range = page * PAGE..((page + 1) * PAGE).min(current.len());
            let mut versions: Vec<&[u8]> = vec![&durable[range.clone()]];
            for later in &history.since {
                if let Some(version) = later.get(name).map(|b| &b[range.clone()]) {
                    if version != *versions.last().unwrap() {
                        versions.push(version);
                    }
                }
            }
            if versions.len() > 1 {
                let chosen = pick(file, page, versions.len());
                bytes[range].copy_from_slice(versions[chosen]);
            }
        }
        image.insert(name.clone(), bytes);
    }
    image
}

/// Opens and checks one image; returns whether open cut a torn tail.
fn check_image(history: &History, image: &Image, what: &str) -> bool {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in image {
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    let journal = Journal::open(
        dir.path(),
        JournalOptions::default().sync(SyncPolicy::EveryBatch),
    )
    .unwrap_or_else(|e| panic!("{what}: the image does not open: {e}"));
    let next = journal.next_sequence();
    let cut = journal.recovery_report().truncated.is_some();
    assert!(
        next >= history.acknowledged,
        "{what}: {} records were synced, the journal holds {next}",
        history.acknowledged
    );
    assert!(
        next as usize <= history.written.len(),
        "{what}: more records than written"
    );
    assert_eq!(
        journal.durable(),
        next.checked_sub(1),
        "{what}: open syncs what it keeps"
    );
    drop(journal);
    let mut reader = Reader::open(dir.path(), 0).unwrap();
    let mut sequence = 0;
    while let Some(record) = reader.next_record().unwrap() {
        let (tag, payload) = &history.written[sequence];
        assert_eq!(record.sequence, sequence as u64, "{what}");
        assert_eq!(
            (record.tag, record.payload),
            (*tag, &payload[..]),
            "{what}: record {sequence}"
        );
        sequence += 1;
    }
    assert_eq!(sequence as u64, next, "{what}");
    // A second open finds what the first left: clean, nothing more to cut.
    let again = Journal::open(dir.path(), JournalOptions::default()).unwrap();
    assert_eq!(again.next_sequence(), next, "{what}: reopened");
    assert!(
        again.recovery_report().truncated.is_none(),
        "{what}: cut twice"
    );
    cut
}

#[test]
fn every_power_loss_image_opens_with_every_synced_record() {
    let images: usize = std::env::var("SEQLANE_POWER_LOSS_IMAGES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(if cfg!(miri) { 8 } else { 300 });
    let seed = std::env::var("SEQLANE_POWER_LOSS_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        })
        | 1;
    eprintln!("power-loss seed {seed} (SEQLANE_POWER_LOSS_SEED replays it)");
    let mut random = Random(seed);
    let mut checked = 0;
    let mut journals = 0;
    let mut cuts = 0;
    while checked < images {
        journals += 1;
        let dir = tempfile::tempdir().unwrap();
        let history = write_journal(dir.path(), &mut random);
        let what = |kind: &str| format!("seed {seed}, journal {journals}, {kind}");
        check_image(&history, &history.durable, &what("the synced image"));
        check_image(
            &history,
            &power_loss_image(&history, |_, _, n| n - 1),
            &what("every page written"),
        );
        // Only the last dirty page, and all but the first, reached the disk.
        let dirty: Vec<(usize, usize)> = {
            let mut dirty = Vec::new();
            power_loss_image(&history, |file, page, _| {
                dirty.push((file, page));
                0
            });
            dirty
        };
        if let (Some(&first), Some(&last)) = (dirty.first(), dirty.last()) {
            check_image(
                &history,
                &power_loss_image(&history, |f, p, n| if (f, p) == last { n - 1 } else { 0 }),
                &what("only the last dirty page"),
            );
            check_image(
                &history,
                &power_loss_image(&history, |f, p, n| if (f, p) == first { 0 } else { n - 1 }),
                &what("all but the first dirty page"),
            );
            checked += 2;
        }
        for round in 0..6 {
            let image = power_loss_image(&history, |_, _, n| random.below(n as u64) as usize);
            cuts += usize::from(check_image(
                &history,
                &image,
                &what(&format!("random subset {round}")),
            ));
        }
        checked += 8;
    }
    eprintln!(
        "{checked} images of {journals} journals opened with every synced record \
         ({cuts} of the random ones had a torn tail cut)"
    );
    assert!(cuts > 0, "no image had a torn tail: the test tests nothing");
}
