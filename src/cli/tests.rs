use super::parse::closest_command;
use super::*;
use clap::CommandFactory;

#[test]
fn typos_get_the_nearest_command() {
    assert_eq!(closest_command("ps:scal").as_deref(), Some("ps:scale"));
    assert_eq!(closest_command("confg:set").as_deref(), Some("config:set"));
    assert_eq!(
        closest_command("releases:rolback").as_deref(),
        Some("releases:rollback")
    );
    assert_eq!(closest_command("xyzzy"), None);
}

#[test]
fn long_words_in_parse_errors_are_cut() {
    // #19, point 6: a 65 KB word was quoted back whole.
    let long = "x".repeat(65_000);
    // Cut at 200 characters, `--` included.
    let shown = format!("{}…", "x".repeat(198));
    for line in [
        vec![long.clone()],
        vec!["apps".into(), long.clone()],
        vec!["apps".into(), format!("--{long}")],
        vec!["builds".into(), "-n".into(), long.clone()],
    ] {
        let message = parse(line.clone())
            .expect_err("refused")
            .message()
            .to_string();
        assert!(message.len() < 1_000, "{} bytes", message.len());
        assert!(message.contains(&shown), "{message}");
    }
    let message = parse(vec!["frobnicate".into()]).err().unwrap();
    assert_eq!(message.message(), "`frobnicate` is not a paas command");
}

#[test]
fn rename_takes_the_new_name_or_the_old_and_the_new() {
    let words = |line: &str| line.split(' ').map(String::from).collect::<Vec<_>>();
    let heroku = parse(words("apps:rename market -a shop")).unwrap();
    assert_eq!(heroku.app.as_deref(), Some("shop"));
    assert!(matches!(
        heroku.command,
        Command::Apps(AppsCommand::Rename { ref name, new: None }) if name == "market"
    ));
    let both = parse(words("apps:rename shop market")).unwrap();
    assert_eq!(both.app.as_deref(), Some("shop"));
    assert!(matches!(
        both.command,
        Command::Apps(AppsCommand::Rename { ref name, new: Some(ref new) }) if name == "shop" && new == "market"
    ));
    // The root alias, and `-a` naming the same app again.
    let alias = parse(words("rename shop market -a shop")).unwrap();
    assert_eq!(alias.app.as_deref(), Some("shop"));
    let clash = parse(words("-a other apps:rename shop market")).unwrap_err();
    assert_eq!(
        clash.message(),
        "`apps:rename shop market` renames `shop`, but `-a` (or `PAAS_APP`) names `other`"
    );
    assert!(parse(words("apps:rename")).is_err());
    assert!(parse(words("apps:rename a b c")).is_err());
}

#[test]
fn cli_definition_is_consistent() {
    Cli::command().debug_assert();
}
