//! Man pages and clap definitions: valid, documented, and man/ up to date.
//! Regenerate with `UPDATE_MAN=1 cargo test --test tests man::`.

use std::path::Path;

#[test]
fn every_tool_definition_is_valid_and_documents_its_exit_statuses() {
    for tool in atomic_commerce::cli::tools() {
        tool.clone().debug_assert();
        let help = tool.clone().render_long_help().to_string();
        assert!(
            help.contains("Exit status:") && help.contains("75"),
            "{} --help lacks the exit statuses",
            tool.get_name()
        );
    }
}

#[test]
fn man_pages_are_up_to_date() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    let pages = atomic_commerce::cli::man::pages();
    if std::env::var_os("UPDATE_MAN").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        for entry in std::fs::read_dir(&dir).unwrap() {
            std::fs::remove_file(entry.unwrap().path()).unwrap();
        }
        for (name, text) in &pages {
            std::fs::write(dir.join(name), text).unwrap();
        }
    }
    let mut committed: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    committed.sort();
    let mut expected: Vec<String> = pages.iter().map(|(n, _)| n.clone()).collect();
    expected.sort();
    assert_eq!(
        committed, expected,
        "man/ has other pages than the tools: run UPDATE_MAN=1 cargo test --test tests man::"
    );
    for (name, text) in &pages {
        let on_disk = std::fs::read_to_string(dir.join(name)).unwrap();
        assert!(on_disk == *text, "man/{name} is stale: run UPDATE_MAN=1 cargo test --test tests man::");
        assert!(text.contains("EXIT STATUS"), "{name}");
    }
}
