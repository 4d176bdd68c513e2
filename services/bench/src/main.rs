//! `klero-bench`: Kleroterion's benchmarks. Each prints JSON lines with at least `bench`,
//! `metric`, `value`, `unit`, `baseline` and `ratio`, where the baseline was measured in the
//! same run on the same machine. BENCHMARKS.md explains each one and how to read it.
//!
//! Usage: `klero-bench [verify|append|proof|grpc|verify-export|project|open|select|documents|pages|browser|tiles|peers|postgres|soak|scale|scale-postgres|all]... [--quick]`

/// The same allocator as `klero serve`, because the grpc bench hosts the server in this
/// process (see the workspace Cargo.toml).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod audit_benches;
mod browser_benches;
mod document_benches;
mod grpc_benches;
mod open_benches;
mod page_benches;
mod peer_benches;
mod postgres_benches;
mod privacy_benches;
mod report;
mod resident_benches;
mod scale_benches;
mod select_benches;
mod soak_benches;
mod store_benches;
mod tile_benches;
mod verify_benches;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // The `open` bench measures each open in a child process of this binary.
    if let [command, directory, mode] = args.as_slice() {
        if command == "open-child" {
            open_benches::open_child(std::path::Path::new(directory), mode, None);
        }
    }
    if let [command, directory, mode, postgres] = args.as_slice() {
        if command == "open-child" {
            open_benches::open_child(std::path::Path::new(directory), mode, Some(postgres));
        }
    }
    // The `scale` bench opens, loads and kills servers in child processes of this binary.
    if let [command, directory, council, postgres @ ..] = args.as_slice() {
        if command == "scale-child" && postgres.len() <= 1 {
            let council = council.parse().expect("a council number");
            scale_benches::scale_child(std::path::Path::new(directory), council, postgres.first().map(String::as_str));
        }
    }
    // The `soak` bench kills and restarts a server that runs in a child process of this binary.
    if let [command, directory, address_file] = args.as_slice() {
        if command == "serve-child" {
            soak_benches::serve_child(std::path::Path::new(directory), std::path::Path::new(address_file));
        }
    }
    // The `verify-export` bench measures verifying a file in a child process of this binary.
    if let [command, path] = args.as_slice() {
        if command == "verify-file-child" {
            audit_benches::verify_file_child(std::path::Path::new(path));
        }
    }
    let quick = args.iter().any(|a| a == "--quick");
    let mut benches: Vec<&str> = args.iter().map(String::as_str).filter(|a| !a.starts_with("--")).collect();
    if benches.is_empty() || benches.contains(&"all") {
        benches = vec![
            "verify",
            "append",
            "proof",
            "grpc",
            "verify-export",
            "project",
            "open",
            "select",
            "objectives",
            "documents",
            "pages",
            "tiles",
            "privacy",
        ];
    }
    for bench in benches {
        match bench {
            "verify" => verify_benches::verify(quick),
            "append" => store_benches::append(quick),
            "proof" => verify_benches::proof(quick),
            "grpc" => grpc_benches::grpc(quick),
            "verify-export" => audit_benches::verify_export_bench(quick),
            "project" => audit_benches::project_bench(quick),
            "open" => open_benches::open(quick),
            "open-postgres" => open_benches::open_postgres(quick),
            "select" => select_benches::select(quick),
            "objectives" => select_benches::objectives(quick),
            "documents" => document_benches::documents_bench(quick),
            "pages" => page_benches::pages(quick),
            "tiles" => tile_benches::tiles(quick),
            "peers" => peer_benches::peers(quick),
            "soak" => soak_benches::soak(quick),
            "postgres" => postgres_benches::postgres(quick),
            "privacy" => privacy_benches::privacy(quick),
            "browser" => browser_benches::browser(quick),
            "residents" => resident_benches::residents(quick),
            "scale" => scale_benches::scale(quick, false),
            "scale-postgres" => scale_benches::scale(quick, true),
            other => {
                eprintln!(
                    "unknown bench {other:?}; expected verify, append, proof, grpc, verify-export, project, open, select, documents, pages, tiles, privacy, postgres, soak, residents or all"
                );
                std::process::exit(2);
            }
        }
    }
}
