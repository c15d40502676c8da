//! Man pages generated from the tools' clap definitions (one page per tool and subcommand),
//! with the exit-status table every page carries. `tests/man.rs` fails when man/ is stale.

use clap_mangen::Man;

use crate::error::EXIT_STATUS_TABLE;

/// Every man page: (file name, roff text).
pub fn pages() -> Vec<(String, String)> {
    let mut pages = Vec::new();
    for tool in super::tools() {
        collect(tool, &mut pages);
    }
    pages
}

fn collect(cmd: clap::Command, pages: &mut Vec<(String, String)>) {
    let name = cmd.get_name().to_string();
    let subcommands: Vec<clap::Command> = cmd
        .get_subcommands()
        .filter(|s| s.get_name() != "help")
        .map(|s| {
            let full = format!("{name}-{}", s.get_name());
            s.clone().name(full.clone()).bin_name(format!("{name} {}", s.get_name())).version(env!("CARGO_PKG_VERSION"))
        })
        .collect();
    pages.push((format!("{name}.1"), render(&cmd)));
    for sub in subcommands {
        collect(sub, pages);
    }
}

fn render(cmd: &clap::Command) -> String {
    let man = Man::new(cmd.clone()).date("").source(format!("atomic-commerce {}", env!("CARGO_PKG_VERSION")));
    let mut out = Vec::new();
    man.render_title(&mut out).expect("writing to a Vec");
    man.render_name_section(&mut out).expect("writing to a Vec");
    man.render_synopsis_section(&mut out).expect("writing to a Vec");
    man.render_description_section(&mut out).expect("writing to a Vec");
    man.render_options_section(&mut out).expect("writing to a Vec");
    if cmd.get_subcommands().any(|s| s.get_name() != "help") {
        man.render_subcommands_section(&mut out).expect("writing to a Vec");
    }
    let mut text = String::from_utf8(out).expect("roff is UTF-8");
    text.push_str(&exit_status_section());
    text.push_str(".SH \"SEE ALSO\"\nThe atomic-commerce README and docs/FORMATS.md.\n");
    text
}

fn exit_status_section() -> String {
    let mut s = String::from(".SH \"EXIT STATUS\"\n");
    let mut lines = EXIT_STATUS_TABLE.lines().skip(1).peekable();
    while let Some(line) = lines.next() {
        let line = line.trim();
        let (code, text) = line.split_once(' ').unwrap_or((line, ""));
        let mut text = text.trim().to_string();
        while let Some(cont) = lines.peek().filter(|l| l.starts_with("      ")) {
            text.push(' ');
            text.push_str(cont.trim());
            lines.next();
        }
        s.push_str(&format!(".TP\n\\fB{code}\\fR\n{}\n", text.replace('-', "\\-")));
    }
    s
}
