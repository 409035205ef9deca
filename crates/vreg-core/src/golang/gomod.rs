//! What vreg reads of a go.mod: its `module` directive. The `go` command
//! refuses a dependency whose go.mod declares another path than the one it
//! was required as ("module declares its path as ... but was required as
//! ..."), or none at all, so a version published with one could never be
//! used: it is refused at upload instead (x/mod's zip rules do not look
//! inside go.mod).

/// The module path a go.mod declares, as far as vreg can tell.
#[derive(Debug, PartialEq, Eq)]
pub enum Declared {
    Path(String),
    /// No `module` directive at all.
    Missing,
    /// More than one, which `go` refuses too.
    Repeated,
    /// A directive this reader does not follow (an odd quoting): not
    /// judged, as x/mod does not judge it.
    Unread,
}

/// The `module` directive of `go_mod`: a line `module <path>`, the path
/// bare, in double quotes or backquotes, or on the lines of a `module (`
/// block; comments (`//`) aside.
pub fn declared_module(go_mod: &[u8]) -> Declared {
    let text = String::from_utf8_lossy(go_mod);
    let mut found = Vec::new();
    // The verb of the block being read (`require (` ... `)`), if any.
    let mut block: Option<&str> = None;
    for line in text.lines() {
        let line = line.split("//").next().unwrap_or_default().trim();
        let mut tokens = line.split_whitespace();
        let first = tokens.next();
        if let Some(verb) = block {
            match first {
                Some(")") => block = None,
                Some(path) if verb == "module" => found.push(unquote(path)),
                _ => {}
            }
            continue;
        }
        let (Some(verb), next, rest) = (first, tokens.next(), tokens.next()) else {
            continue;
        };
        match (verb, next, rest) {
            (_, Some("("), None) => block = Some(verb),
            ("module", Some(path), None) => found.push(unquote(path)),
            ("module", _, _) => found.push(None),
            _ => {}
        }
    }
    match found.as_slice() {
        [] => Declared::Missing,
        [Some(path)] => Declared::Path(path.clone()),
        [None] => Declared::Unread,
        _ => Declared::Repeated,
    }
}

/// A path token as Go's lexer reads it: bare, `"..."` (with no escapes:
/// a module path has no use for them) or `` `...` ``.
fn unquote(token: &str) -> Option<String> {
    let quoted = |q: char| token.strip_prefix(q)?.strip_suffix(q);
    match token.chars().next() {
        Some('"') => quoted('"').filter(|s| !s.contains('\\')),
        Some('`') => quoted('`'),
        _ => Some(token),
    }
    .map(str::to_owned)
}

/// Whether `go_mod` lets `module` be used as the module it is published
/// as; the reason it does not otherwise.
pub fn check_declared(module: &str, go_mod: &[u8]) -> Result<(), String> {
    match declared_module(go_mod) {
        Declared::Path(path) if path == module => Ok(()),
        Declared::Path(path) => Err(format!(
            "go.mod declares the module as {path}, not {module}"
        )),
        Declared::Missing => Err("go.mod has no module directive".into()),
        Declared::Repeated => Err("go.mod has more than one module directive".into()),
        Declared::Unread => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared(text: &str) -> Declared {
        declared_module(text.as_bytes())
    }

    #[test]
    fn reads_the_module_directive_as_go_writes_it() {
        let path = |p: &str| Declared::Path(p.into());
        assert_eq!(
            declared("module example.com/m\n\ngo 1.21\n"),
            path("example.com/m")
        );
        assert_eq!(
            declared("// Deprecated: use v2\nmodule example.com/m // the old one\r\n"),
            path("example.com/m")
        );
        assert_eq!(
            declared("module \"example.com/m\"\n"),
            path("example.com/m")
        );
        assert_eq!(declared("module `example.com/m`\n"), path("example.com/m"));
        assert_eq!(
            declared("module (\n\texample.com/m\n)\n"),
            path("example.com/m")
        );
        assert_eq!(
            declared("\tmodule\texample.com/m/v2  \n"),
            path("example.com/m/v2")
        );
        // A word that only starts like the directive is not it.
        assert_eq!(declared("modules example.com/m\n"), Declared::Missing);
        assert_eq!(
            declared("go 1.21\nrequire example.com/x v1.0.0\n"),
            Declared::Missing
        );
        assert_eq!(declared(""), Declared::Missing);
        assert_eq!(declared("// module example.com/m\n"), Declared::Missing);
        // Lines of other blocks are not directives, whatever they start with.
        assert_eq!(
            declared("module example.com/m\nrequire (\n\tmodule v1.0.0\n)\n"),
            path("example.com/m")
        );
        assert_eq!(
            declared("module example.com/a\nmodule example.com/b\n"),
            Declared::Repeated
        );
        assert_eq!(declared("module \"example.com/\\x6d\"\n"), Declared::Unread);
    }

    #[test]
    fn refuses_another_path_or_none() {
        assert_eq!(
            check_declared("example.com/m", b"module example.com/m\n"),
            Ok(())
        );
        assert_eq!(
            check_declared("example.com/m", b"module example.com/M\n"),
            Err("go.mod declares the module as example.com/M, not example.com/m".into())
        );
        assert!(check_declared("example.com/m/v2", b"module example.com/m\n").is_err());
        assert!(check_declared("example.com/m", b"go 1.21\n").is_err());
        assert!(check_declared("example.com/m", b"module \"example.com/\\x6d\"\n").is_ok());
    }
}
