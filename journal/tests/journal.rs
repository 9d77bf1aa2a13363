//! The journal through its public API: round trips across segment rolls, recovery
//! from torn tails and flipped bits, locking, a full disk, retention, sync policies
//! and a reader racing the writer.

use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use seqlane_journal::{format, inspect, Journal, JournalError, JournalOptions, Reader, SyncPolicy};

mod common;

use common::{append_range, options, payload, read_all, tag, written, SMALL_SEGMENT};

fn last_segment(dir: &Path) -> PathBuf {
    let mut segments: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    segments.sort();
    segments.pop().unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.path().is_file() {
            fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

#[test]
fn records_round_trip_across_segment_rolls_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(dir.path(), options()).unwrap();
    append_range(&mut journal, 0, 300);
    assert!(journal.segments().len() > 5, "small segments should roll");
    drop(journal);

    let mut journal = Journal::open(dir.path(), options()).unwrap();
    let report = journal.recovery_report().clone();
    assert_eq!(
        (report.records, report.next_sequence, report.truncated),
        (300, 300, None)
    );
    append_range(&mut journal, 300, 400);
    assert_eq!(read_all(dir.path(), 0), 400);
    // Seek into the middle: the reader finds the segment by name.
    for from in [1, 57, 299, 300, 399, 400] {
        assert_eq!(read_all(dir.path(), from), 400, "from {from}");
    }
    let mut tail = journal.reader_from(123).unwrap();
    assert_eq!(tail.next_record().unwrap().unwrap().sequence, 123);
    assert!(inspect(dir.path()).unwrap().is_valid());
}

#[test]
fn an_empty_journal_opens_reads_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path(), options()).unwrap();
    assert_eq!((journal.next_sequence(), journal.durable()), (0, None));
    assert_eq!(
        Reader::open(dir.path(), 0).unwrap().next_record().unwrap(),
        None
    );
    drop(journal);
    let journal = Journal::open(dir.path(), options()).unwrap();
    assert_eq!(journal.recovery_report().records, 0);
}

/// The last record's segment, and where its frame starts and ends (unpadded).
fn last_record_extent(dir: &Path, records: u64) -> (PathBuf, usize, usize) {
    let path = last_segment(dir);
    let mut reader = Reader::open(dir, records - 1).unwrap();
    let payload_len = reader.next_record().unwrap().unwrap().payload.len();
    let used = inspect(dir).unwrap().segments.pop().unwrap().used_bytes as usize;
    let start = used - format::frame_size(payload_len);
    (path, start, start + format::FRAME_HEADER_LEN + payload_len)
}

/// A crash mid-write leaves the last record, appended after the last sync, cut at
/// any byte: with preallocation the rest reads as zeros; a copied or truncated file
/// may be shorter still. Either way recovery drops exactly that record, says so,
/// and appends after it.
#[test]
fn recovery_cuts_a_torn_last_record_at_every_byte() {
    const RECORDS: u64 = 40;
    let original = written(RECORDS - 1);
    let mut unsynced = Journal::open(original.path(), options().sync(SyncPolicy::Never)).unwrap();
    append_range(&mut unsynced, RECORDS - 1, RECORDS);
    drop(unsynced);
    let (path, start, end) = last_record_extent(original.path(), RECORDS);
    assert!(
        end - start > format::FRAME_HEADER_LEN,
        "the last record should carry a payload"
    );
    let name = path.file_name().unwrap().to_owned();

    for cut in start..end {
        for truncate in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            copy_dir(original.path(), dir.path());
            let file = OpenOptions::new()
                .write(true)
                .open(dir.path().join(&name))
                .unwrap();
            if truncate {
                file.set_len(cut as u64).unwrap();
            } else {
                file.write_all_at(&vec![0; end - cut], cut as u64).unwrap();
            }
            drop(file);

            let mut journal = Journal::open(dir.path(), options())
                .unwrap_or_else(|e| panic!("cut at {cut} (truncate {truncate}): {e}"));
            let report = journal.recovery_report().clone();
            assert_eq!(report.next_sequence, RECORDS - 1, "cut at {cut}");
            // A cut inside the length field zeroes it, so the record reads as never
            // written; any later cut leaves a torn record, which is reported.
            match &report.truncated {
                Some(torn) => assert_eq!(torn.offset as usize, start, "cut at {cut}"),
                None => assert!(cut < start + 4, "cut at {cut} went unreported"),
            }
            append_range(&mut journal, RECORDS - 1, RECORDS + 3);
            drop(journal);
            assert_eq!(read_all(dir.path(), 0), RECORDS + 3, "cut at {cut}");
            assert!(inspect(dir.path()).unwrap().is_valid(), "cut at {cut}");
        }
    }
}

/// One flipped bit anywhere in a record that a completed sync covered: opening
/// refuses with the file and offset, and nothing is truncated.
#[test]
fn a_flipped_bit_before_valid_records_is_a_hard_error_naming_file_and_offset() {
    let original = written(12);
    let first_segment = original.path().join("00000000000000000000.seg");
    let mut reader = Reader::open(original.path(), 0).unwrap();
    let first_len = reader.next_record().unwrap().unwrap().payload.len();
    let start = format::DATA_START;
    // Length, checksum, sequence, tag and payload bytes of the first record.
    for byte in start..start + format::FRAME_HEADER_LEN + first_len {
        for bit in [0, 3, 7] {
            let dir = tempfile::tempdir().unwrap();
            copy_dir(original.path(), dir.path());
            let target = dir.path().join(first_segment.file_name().unwrap());
            let mut bytes = fs::read(&target).unwrap();
            bytes[byte] ^= 1 << bit;
            fs::write(&target, &bytes).unwrap();
            let error = Journal::open(dir.path(), options()).unwrap_err();
            match &error {
                JournalError::CorruptRecord { path, offset, .. } => {
                    assert_eq!(path, &target);
                    assert_eq!(*offset as usize, start, "byte {byte}");
                }
                other => panic!("byte {byte} bit {bit}: {other}"),
            }
            assert!(error.to_string().contains("below the durable line (12)"));
            assert!(error.to_string().contains("refusing to drop it"));
            assert_eq!(
                fs::read(&target).unwrap(),
                bytes,
                "nothing may be truncated"
            );
            assert!(!inspect(dir.path()).unwrap().is_valid());
        }
    }
}

#[test]
fn a_flipped_bit_in_a_segment_header_is_refused_clearly() {
    let original = written(5);
    let name = last_segment(original.path())
        .file_name()
        .unwrap()
        .to_owned();
    for byte in 0..format::SEGMENT_HEADER_LEN {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(original.path(), dir.path());
        let target = dir.path().join(&name);
        let mut bytes = fs::read(&target).unwrap();
        bytes[byte] ^= 0x04;
        fs::write(&target, &bytes).unwrap();
        let error = Journal::open(dir.path(), options()).unwrap_err();
        let expected = match byte {
            0..8 => matches!(error, JournalError::BadMagic { .. }),
            // Any flipped bit of version 1 makes a larger number: a "newer" version,
            // which says more to the user than a checksum mismatch would.
            8..12 => matches!(error, JournalError::UnsupportedVersion { found, .. } if found > 1),
            _ => matches!(error, JournalError::CorruptSegment { .. }),
        };
        assert!(expected, "byte {byte}: {error}");
        assert!(
            error.to_string().contains(&*target.to_string_lossy()),
            "{error}"
        );
    }
}

#[test]
fn garbage_files_named_like_segments_give_errors_not_panics() {
    let cases: [&[u8]; 4] = [b"", b"SEQLJRNL", &[0xff; 100], &[0; 4096]];
    for bytes in cases {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("00000000000000000000.seg"), bytes).unwrap();
        assert!(Journal::open(dir.path(), options()).is_err());
        assert!(Reader::open(dir.path(), 0).is_err());
        assert!(!inspect(dir.path()).unwrap().is_valid());
    }
}

#[test]
fn a_zero_filled_preallocated_tail_is_the_normal_end() {
    let dir = tempfile::tempdir().unwrap();
    let options = JournalOptions::default().segment_size(1 << 20);
    let mut journal = Journal::open(dir.path(), options.clone()).unwrap();
    append_range(&mut journal, 0, 10);
    drop(journal);
    assert_eq!(
        fs::metadata(last_segment(dir.path())).unwrap().len(),
        1 << 20,
        "preallocated"
    );
    let journal = Journal::open(dir.path(), options).unwrap();
    assert_eq!(journal.recovery_report().truncated, None);
    assert_eq!(journal.next_sequence(), 10);
}

#[test]
fn a_second_writer_is_refused_with_the_holder_named() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path(), options()).unwrap();
    let error = Journal::open(dir.path(), options()).unwrap_err();
    let JournalError::Locked { holder, .. } = &error else {
        panic!("{error}")
    };
    assert!(
        holder.contains(&format!("pid {}", std::process::id())),
        "{holder}"
    );
    // Readers need no lock.
    assert!(Reader::open(dir.path(), 0).is_ok());
    drop(journal);
    assert!(
        Journal::open(dir.path(), options()).is_ok(),
        "the lock goes with the writer"
    );
}

/// A child process holds the writer's flock from its `fork` until its `exec` (the
/// descriptor is shared until close-on-exec closes it). A journal closed and
/// reopened by a process that spawns children meets its own lock, with its own pid
/// in the lock file, for that moment: open waits it out instead of failing.
#[test]
fn a_lock_still_held_by_a_spawned_child_is_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    drop(Journal::open(dir.path(), options()).unwrap());
    // Stand in for the child: the same lock file, locked through another open
    // file description, saying this process holds it.
    let inherited = OpenOptions::new()
        .read(true)
        .write(true)
        .open(dir.path().join(seqlane_journal::LOCK_FILE))
        .unwrap();
    inherited.try_lock().unwrap();
    let release = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(100));
        drop(inherited); // the child execs: close-on-exec releases the lock
    });
    let journal = Journal::open(dir.path(), options());
    release.join().unwrap();
    assert!(journal.is_ok(), "{:?}", journal.err());
}

#[test]
fn a_leftover_temporary_segment_is_removed_on_open() {
    let dir = tempfile::tempdir().unwrap();
    drop(Journal::open(dir.path(), options()).unwrap());
    let leftover = dir.path().join("00000000000000000009.seg.tmp");
    fs::write(&leftover, b"half-made").unwrap();
    let journal = Journal::open(dir.path(), options()).unwrap();
    assert_eq!(
        journal.recovery_report().removed_leftovers,
        vec![leftover.clone()]
    );
    assert!(!leftover.exists());
}

#[test]
fn a_record_larger_than_a_segment_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(dir.path(), options()).unwrap();
    let error = journal
        .append(0, &vec![0; SMALL_SEGMENT as usize])
        .unwrap_err();
    assert!(
        matches!(error, JournalError::RecordTooLarge { .. }),
        "{error}"
    );
    assert_eq!(
        journal.append(0, b"fine").unwrap(),
        0,
        "the journal stays usable"
    );
    // The limit is exact: the longest payload fills a fresh segment to its end.
    let longest = options().max_payload_len();
    assert!(journal.append(0, &vec![1; longest + 1]).is_err());
    assert_eq!(journal.append(0, &vec![1; longest]).unwrap(), 1);
    assert_eq!(journal.segments().len(), 2);
}

#[test]
fn sync_policies_move_the_durable_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut never =
        Journal::open(dir.path().join("never"), options().sync(SyncPolicy::Never)).unwrap();
    never.append(0, b"a").unwrap();
    assert_eq!((never.durable(), never.synced()), (Some(0), None));
    never.sync().unwrap();
    assert_eq!(never.synced(), Some(0));

    let mut every = Journal::open(
        dir.path().join("every"),
        options().sync(SyncPolicy::EveryBatch),
    )
    .unwrap();
    every
        .append_batch([(0, &b"a"[..]), (0, &b"b"[..])])
        .unwrap();
    assert_eq!((every.durable(), every.synced()), (Some(1), Some(1)));

    let hour = std::time::Duration::from_secs(3600);
    let mut group = Journal::open(
        dir.path().join("group"),
        options().sync(SyncPolicy::Interval(hour)),
    )
    .unwrap();
    group.append(0, b"a").unwrap();
    group.sync_if_due().unwrap();
    assert_eq!(group.durable(), None, "an hour has not passed");
    group.sync().unwrap();
    assert_eq!(group.durable(), Some(0));

    let zero = SyncPolicy::Interval(std::time::Duration::ZERO);
    let mut eager = Journal::open(dir.path().join("eager"), options().sync(zero)).unwrap();
    eager.append(0, b"a").unwrap();
    assert_eq!(eager.durable(), Some(0));
}

#[test]
fn retired_segments_are_deleted_or_archived_and_reopening_follows() {
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(dir.path(), options()).unwrap();
    append_range(&mut journal, 0, 200);
    let bases: Vec<u64> = journal.segments().iter().map(|(base, _)| *base).collect();
    let archive = dir.path().join("archive");
    let retired = journal.retire_before(bases[3] + 1, Some(&archive)).unwrap();
    assert_eq!(retired.len(), 3);
    assert_eq!(journal.first_sequence(), bases[3]);
    assert_eq!(fs::read_dir(&archive).unwrap().count(), 3);
    assert!(matches!(
        journal.reader_from(0),
        Err(JournalError::OutOfRange { .. })
    ));
    assert_eq!(read_all(dir.path(), bases[3]), 200);
    let deleted = journal.retire_before(bases[5], None).unwrap();
    assert_eq!(deleted.len(), 2);
    drop(journal);
    let journal = Journal::open(dir.path(), options()).unwrap();
    assert_eq!(
        (journal.first_sequence(), journal.next_sequence()),
        (bases[5], 200)
    );
    assert!(matches!(
        Reader::open(dir.path(), 0),
        Err(JournalError::OutOfRange { .. })
    ));
}

/// A reader on another thread tails the journal while it appends and rolls: it sees
/// every record, in order, never a partial one.
#[test]
fn a_tailing_reader_races_the_writer() {
    const RECORDS: u64 = 3_000;
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(dir.path(), options().sync(SyncPolicy::Never)).unwrap();
    let mut reader = journal.reader_from(0).unwrap();
    let tail = std::thread::spawn(move || {
        let mut expected = 0;
        while expected < RECORDS {
            match reader.next_record().unwrap() {
                Some(record) => {
                    assert_eq!(record.sequence, expected);
                    assert_eq!(record.tag, tag(expected));
                    assert_eq!(record.payload, &payload(expected)[..]);
                    expected += 1;
                }
                None => std::thread::yield_now(),
            }
        }
        assert_eq!(
            reader.next_record().unwrap(),
            None,
            "nothing past the appended"
        );
        expected
    });
    append_range(&mut journal, 0, RECORDS);
    assert_eq!(tail.join().unwrap(), RECORDS);
    assert!(journal.segments().len() > 10);
}

/// ENOSPC on a small tmpfs: the failed segment allocation is an error up front
/// (never a SIGBUS), records before it stay intact, and the journal reopens.
#[test]
fn a_full_disk_is_an_error_up_front() {
    let mount = tempfile::tempdir().unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(mount.path())
        .output();
    match mounted {
        Ok(output) if output.status.success() => {}
        Ok(output) => {
            eprintln!(
                "skipped: cannot mount a tmpfs here ({}); run as root to test ENOSPC",
                String::from_utf8_lossy(&output.stderr).trim()
            );
            return;
        }
        Err(error) => {
            eprintln!("skipped: no mount command ({error})");
            return;
        }
    }
    let outcome = std::panic::catch_unwind(|| {
        let dir = mount.path().join("journal");
        let mut journal = Journal::open(&dir, options()).unwrap();
        let mut appended = 0;
        let error = loop {
            match journal.append(tag(appended), &payload(appended)) {
                Ok(_) => appended += 1,
                Err(error) => break error,
            }
            assert!(appended < 10_000, "a 64 KiB disk never filled");
        };
        assert!(matches!(error, JournalError::Allocate { .. }), "{error}");
        assert!(error.to_string().contains("is the disk full?"), "{error}");
        assert!(appended > 0);
        assert_eq!(
            journal.next_sequence(),
            appended,
            "the failed record was not appended"
        );
        let retry = journal.append(tag(appended), &payload(appended));
        assert!(
            matches!(retry, Err(JournalError::Allocate { .. })),
            "still full, still no panic"
        );
        drop(journal);
        let journal = Journal::open(&dir, options()).unwrap();
        assert_eq!(journal.next_sequence(), appended);
        assert_eq!(read_all(&dir, 0), appended);
    });
    let _ = std::process::Command::new("umount")
        .arg(mount.path())
        .status();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// A length field zeroed in the middle of the last segment must not silently end
/// the log there: valid records follow, so opening refuses. (Found by fuzzing.)
#[test]
fn a_zeroed_length_before_valid_records_is_a_hard_error() {
    let dir = written(5);
    let segment = dir.path().join("00000000000000000000.seg");
    let file = OpenOptions::new().write(true).open(&segment).unwrap();
    let second = format::DATA_START + format::frame_size(payload(0).len());
    file.write_all_at(&[0; 4], second as u64).unwrap();
    drop(file);
    let error = Journal::open(dir.path(), options()).unwrap_err();
    assert!(
        matches!(&error, JournalError::CorruptRecord { offset, .. } if *offset as usize == second),
        "{error}"
    );
    assert!(!inspect(dir.path()).unwrap().is_valid());
}

/// A crash after a frame's body was written but before its length: the body bytes
/// are cleared on open, so later appends never leave them behind as "damage".
#[test]
fn bytes_of_a_record_whose_length_was_never_written_are_cleared() {
    let dir = written(3);
    let used = inspect(dir.path()).unwrap().segments[0].used_bytes;
    let segment = dir.path().join("00000000000000000000.seg");
    let file = OpenOptions::new().write(true).open(&segment).unwrap();
    file.write_all_at(&[0xee; 100], used + 4).unwrap();
    drop(file);
    let mut journal = Journal::open(dir.path(), options()).unwrap();
    let torn = journal
        .recovery_report()
        .truncated
        .clone()
        .expect("the leftover bytes are reported");
    assert_eq!((torn.offset, torn.bytes), (used, 104));
    journal.append(0, b"x").unwrap();
    drop(journal);
    assert!(inspect(dir.path()).unwrap().is_valid());
}

/// Syncs run on another thread while the writer appends: each completed job makes
/// exactly the records before its start durable, overtaken jobs change nothing,
/// and the reopened journal holds every record.
#[test]
fn syncs_taken_out_to_another_thread_cover_what_was_appended_before_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(dir.path(), options().sync(SyncPolicy::Never)).unwrap();
    assert!(journal.begin_sync().unwrap().is_none(), "nothing to sync");
    let (jobs, to_run) = std::sync::mpsc::channel::<seqlane_journal::SyncJob>();
    let (done, finished) = std::sync::mpsc::channel();
    let syncer = std::thread::spawn(move || {
        for job in to_run {
            let outcome = job.run();
            done.send((job, outcome)).unwrap();
        }
    });
    let mut in_flight = false;
    let mut sequence = 0;
    while sequence < 2_000 {
        append_range(&mut journal, sequence, sequence + 5);
        sequence += 5;
        if !in_flight {
            if let Some(job) = journal.begin_sync().unwrap() {
                assert_eq!(job.next_sequence(), sequence);
                jobs.send(job).unwrap();
                in_flight = true;
            }
        }
        if let Ok((job, outcome)) = finished.try_recv() {
            let covered = job.next_sequence();
            let before = journal.synced();
            journal.complete_sync(job, outcome).unwrap();
            // A roll syncs what it leaves (not under `Never`): then the job was
            // overtaken or covers the new segment's records only.
            assert!(journal.synced() >= before);
            assert!(journal.synced().map_or(0, |last| last + 1) <= sequence);
            if journal.synced() != before {
                assert_eq!(journal.synced(), Some(covered - 1));
            }
            in_flight = false;
        }
        if sequence % 500 == 0 {
            // An inline sync overtakes the job in flight, which then completes
            // with nothing to do.
            journal.sync().unwrap();
            assert_eq!(journal.synced(), Some(sequence - 1));
        }
    }
    drop(jobs);
    for (job, outcome) in finished.iter() {
        journal.complete_sync(job, outcome).unwrap();
    }
    syncer.join().unwrap();
    journal.sync().unwrap();
    assert_eq!(journal.synced(), Some(sequence - 1));
    drop(journal);
    assert_eq!(read_all(dir.path(), 0), sequence);
}
