//! `documents`: uploading and downloading documents over gRPC to a real server on the embedded
//! store, against writing the same bytes to files with `fsync` (and reading them back) in the
//! same run; and `klero verify` of an export with its documents, against the same export
//! without them.

use crate::grpc_benches::{grant_and_convene, BenchServer};
use crate::report::{emit, median};
use klero_client::KleroClient;
use klero_ledger::Hash256;
use klero_proto as pb;
use serde_json::json;
use std::io::Write;
use std::time::Instant;

/// `count` distinct documents of `size` bytes of UTF-8 text.
fn documents(count: usize, size: usize, salt: u64) -> Vec<Vec<u8>> {
    (0..count)
        .map(|n| {
            let mut text = format!("document {salt}-{n}: ").into_bytes();
            let filler = b"the panel weighed the evidence and the submissions before it recommended. ";
            while text.len() < size {
                text.extend_from_slice(filler);
            }
            text.truncate(size);
            text
        })
        .collect()
}

/// Baseline: each document written to its own new file and synced, as a store must; then read back.
fn files_rates(directory: &std::path::Path, prefix: &str, docs: &[Vec<u8>]) -> (f64, f64) {
    let bytes: usize = docs.iter().map(Vec::len).sum();
    let started = Instant::now();
    for (n, doc) in docs.iter().enumerate() {
        let mut file = std::fs::File::create(directory.join(format!("{prefix}{n}"))).expect("create");
        file.write_all(doc).expect("write");
        file.sync_all().expect("sync");
    }
    std::fs::File::open(directory).and_then(|d| d.sync_all()).expect("sync directory");
    let write = bytes as f64 / started.elapsed().as_secs_f64();
    // Read back from the page cache: what a download must read at the least.
    let started = Instant::now();
    let mut read = 0;
    for n in 0..docs.len() {
        read += std::fs::read(directory.join(format!("{prefix}{n}"))).expect("read").len();
    }
    assert_eq!(read, bytes);
    (write, bytes as f64 / started.elapsed().as_secs_f64())
}

/// Uploaders at once in the concurrent case, each on its own connection.
const CONCURRENT_UPLOADERS: usize = 8;

/// Baseline for the concurrent case: `threads` threads, each writing its share of the documents
/// to new files and syncing each, at once; then one directory sync. Bytes a second.
fn concurrent_files_rate(directory: &std::path::Path, prefix: &str, docs: &[Vec<u8>], threads: usize) -> f64 {
    let bytes: usize = docs.iter().map(Vec::len).sum();
    let started = Instant::now();
    std::thread::scope(|scope| {
        for (thread, share) in docs.chunks(docs.len().div_ceil(threads)).enumerate() {
            scope.spawn(move || {
                for (n, doc) in share.iter().enumerate() {
                    let path = directory.join(format!("{prefix}{thread}-{n}"));
                    let mut file = std::fs::File::create(path).expect("create");
                    file.write_all(doc).expect("write");
                    file.sync_all().expect("sync");
                }
            });
        }
    });
    std::fs::File::open(directory).and_then(|d| d.sync_all()).expect("sync directory");
    bytes as f64 / started.elapsed().as_secs_f64()
}

pub fn documents_bench(quick: bool) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let (count, size) = if quick { (32, 256 * 1024) } else { (64, 1024 * 1024) };
    let rounds = if quick { 3 } else { 5 };
    runtime.block_on(async {
        let server = BenchServer::start().await;
        let (directory, facilitator) = (&server.directory, &server.facilitator);
        let mut client = KleroClient::connect(&server.url).await.expect("connect");
        grant_and_convene(&mut client, &server.council, &server.convenor, facilitator, "documents").await;
        // The baseline's files go in the store's own documents directory: ext4 allocates a new
        // file's inode near its directory's, and how long that takes depends on the block
        // group (it skips recently deleted inodes one by one), so files in another directory
        // would measure the disk's history as much as the code. A first upload makes the
        // store read its directory before any baseline file is there.
        client.upload_document(b"warm-up", "text/plain; charset=utf-8", false).await.expect("upload");
        let documents_directory = directory.path().join("documents");
        let (mut uploads, mut downloads, mut writes, mut reads) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for round in 0..rounds {
            let docs = documents(count, size, round as u64);
            let bytes: usize = docs.iter().map(Vec::len).sum();
            let (write, read) = files_rates(&documents_directory, &format!("baseline-{round}-"), &docs);
            writes.push(write);
            reads.push(read);
            // Upload, then commit each (so it can be downloaded), then download.
            let started = Instant::now();
            let mut hashes = Vec::new();
            for doc in &docs {
                hashes.push(client.upload_document(doc, "text/plain; charset=utf-8", false).await.expect("upload"));
            }
            uploads.push(bytes as f64 / started.elapsed().as_secs_f64());
            for (n, hash) in hashes.iter().enumerate() {
                let event = facilitator
                    .sign(
                        "documents",
                        &pb::deliberation::PublicSubmissionReceived {
                            submitter_id: format!("r{round}-{n}"),
                            content_hash: hash.0.to_vec(),
                            received_on: "2026-11-30".into(),
                            sealed_text: None,
                        },
                    )
                    .expect("sign");
                client.append(&event, None).await.expect("append");
            }
            let started = Instant::now();
            let mut read = 0;
            for hash in &hashes {
                read += client.download_document(hash).await.expect("download").bytes.len();
            }
            assert_eq!(read, bytes);
            downloads.push(bytes as f64 / started.elapsed().as_secs_f64());
        }
        // The same volume from several uploaders at once, against as many threads writing
        // files at once: a server's throughput, where the sequential case is one client's.
        let uploaders: Vec<KleroClient> = {
            let mut clients = Vec::new();
            for _ in 0..CONCURRENT_UPLOADERS {
                clients.push(KleroClient::connect(&server.url).await.expect("connect"));
            }
            clients
        };
        let (mut concurrent_uploads, mut concurrent_writes) = (Vec::new(), Vec::new());
        for round in 0..rounds {
            let docs = documents(count, size, 1_000 + round as u64);
            let bytes: usize = docs.iter().map(Vec::len).sum();
            concurrent_writes.push(concurrent_files_rate(
                &documents_directory,
                &format!("concurrent-{round}-"),
                &docs,
                CONCURRENT_UPLOADERS,
            ));
            let started = Instant::now();
            let tasks: Vec<_> = uploaders
                .iter()
                .cloned()
                .zip(docs.chunks(count.div_ceil(CONCURRENT_UPLOADERS)).map(<[Vec<u8>]>::to_vec))
                .map(|(mut client, share)| {
                    tokio::spawn(async move {
                        for doc in &share {
                            client.upload_document(doc, "text/plain; charset=utf-8", false).await.expect("upload");
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.expect("uploader");
            }
            concurrent_uploads.push(bytes as f64 / started.elapsed().as_secs_f64());
        }
        let details = json!({"documents": count, "document_bytes": size, "rounds": rounds, "target_ratio_min": 0.5});
        emit(
            "documents",
            &format!("upload_bytes_per_second_{CONCURRENT_UPLOADERS}_clients"),
            median(&mut concurrent_uploads),
            "bytes/s",
            median(&mut concurrent_writes),
            json!({"details": details, "clients": CONCURRENT_UPLOADERS,
                   "baseline_name": "as many threads each writing its share to new files and fsyncing each, at once, same bytes, same run"}),
        );
        emit(
            "documents",
            "upload_bytes_per_second",
            median(&mut uploads),
            "bytes/s",
            median(&mut writes.clone()),
            json!({"details": details, "baseline_name": "each document written to a new file and fsynced, same bytes, same run"}),
        );
        // The baseline for both directions is the durable write; the read-back rate
        // is reported beside it, for scale.
        let write_rate = median(&mut writes);
        emit(
            "documents",
            "download_bytes_per_second",
            median(&mut downloads),
            "bytes/s",
            write_rate,
            json!({"details": details, "baseline_name": "each document written to a new file and fsynced, same bytes, same run",
                   "read_back_bytes_per_second": median(&mut reads)}),
        );
        server.stop().await;
    });
    verify_with_documents_bench(quick);
}

/// `klero verify` with `--documents` against without, on an export whose every event commits
/// to a document of 2 KiB.
fn verify_with_documents_bench(quick: bool) {
    let events = if quick { 2_000 } else { 20_000 };
    let built = crate::audit_benches::build_export_with_documents(events, 2048);
    let (export, docs) = (built.0, built.1);
    let directory = tempfile::tempdir().expect("temp dir");
    let export_path = directory.path().join("bench.export");
    std::fs::write(&export_path, export.encode()).expect("write export");
    let documents_directory = directory.path().join("documents");
    std::fs::create_dir(&documents_directory).expect("dir");
    for doc in &docs {
        std::fs::write(documents_directory.join(Hash256::of(doc).to_hex()), doc).expect("write document");
    }
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let started = Instant::now();
        let file = std::io::BufReader::new(std::fs::File::open(&export_path).expect("open"));
        let report = klero_verifier::verify_stream(file, &Default::default(), None, &mut |_, _| {});
        assert!(report.complete(), "{}", report.to_text());
        without.push(events as f64 / started.elapsed().as_secs_f64());

        let started = Instant::now();
        let file = std::io::BufReader::new(std::fs::File::open(&export_path).expect("open"));
        let options = klero_verifier::VerifyOptions { collect_committed_documents: true, ..Default::default() };
        let mut report = klero_verifier::verify_stream(file, &options, None, &mut |_, _| {});
        let files = std::fs::read_dir(&documents_directory).expect("dir").map(|entry| {
            let entry = entry.expect("entry");
            (entry.file_name().to_string_lossy().into_owned(), std::fs::read(entry.path()).expect("read"))
        });
        klero_verifier::check_documents(&mut report, files);
        assert!(report.complete() && report.documents_checked == docs.len() as u64, "{}", report.to_text());
        with.push(events as f64 / started.elapsed().as_secs_f64());
    }
    emit(
        "documents",
        "verify_with_documents_events_per_second",
        median(&mut with),
        "events/s",
        median(&mut without),
        json!({"events": events, "documents": docs.len(), "document_bytes": 2048,
               "baseline_name": "klero verify of the same export without --documents"}),
    );
}
