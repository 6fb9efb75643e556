//! `ddb-lake completions` and `ddb-lake man`: shell completion scripts and man pages, made from
//! the same clap definitions that parse the arguments (clap_complete, clap_mangen), so they
//! never drift from `--help`.

use std::path::{Path, PathBuf};

use anyhow::Context;

/// Arguments of `ddb-lake completions`.
#[derive(clap::Args, Debug)]
pub struct CompletionsArgs {
    /// The shell to complete for. Install, for example:
    /// bash: `ddb-lake completions bash > ~/.local/share/bash-completion/completions/ddb-lake`;
    /// zsh: `ddb-lake completions zsh > ~/.zfunc/_ddb-lake` (with `fpath+=~/.zfunc` before
    /// `compinit`); fish: `ddb-lake completions fish > ~/.config/fish/completions/ddb-lake.fish`.
    shell: clap_complete::Shell,
}

/// Arguments of `ddb-lake man`.
#[derive(clap::Args, Debug)]
pub struct ManArgs {
    /// Write one page per command into this folder (`ddb-lake.1`, `ddb-lake-sql-run.1`, …)
    /// instead of printing the main page. Install, for example:
    /// `ddb-lake man --out ~/.local/share/man/man1` (then `man ddb-lake-backfill`).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

/// Prints the completion script for a shell.
pub fn completions(args: CompletionsArgs, mut command: clap::Command) -> anyhow::Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "ddb-lake", &mut script);
    out!("{}", String::from_utf8_lossy(&script))?;
    Ok(())
}

/// Prints the main man page, or writes a page per command into `--out`.
pub fn man(args: ManArgs, command: clap::Command) -> anyhow::Result<()> {
    let command = command.version(env!("CARGO_PKG_VERSION"));
    match &args.out {
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(command).render(&mut page)?;
            out!("{}", String::from_utf8_lossy(&page))?;
        }
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            let written = write_pages(&command, "ddb-lake", dir)?;
            outln!("wrote {written} man pages into {}", dir.display())?;
        }
    }
    Ok(())
}

/// Writes the page of `command` (named `name`) and of each of its subcommands; returns how many.
fn write_pages(command: &clap::Command, name: &str, dir: &Path) -> anyhow::Result<usize> {
    let path = dir.join(format!("{name}.1"));
    let mut page = Vec::new();
    clap_mangen::Man::new(command.clone()).title(name).render(&mut page)?;
    std::fs::write(&path, page).with_context(|| format!("cannot write {}", path.display()))?;
    let mut written = 1;
    for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
        written += write_pages(sub, &format!("{name}-{}", sub.get_name()), dir)?;
    }
    Ok(written)
}
