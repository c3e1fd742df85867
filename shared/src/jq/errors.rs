//! jaq's parse and compile errors, said as a merchant reads them: what was
//! expected, what was found, at which line and column.

pub fn undefined_kind(u: &jaq_core::compile::Undefined) -> &'static str {
    use jaq_core::compile::Undefined;
    match u {
        Undefined::Mod => "module",
        Undefined::Var => "variable",
        Undefined::Label => "label",
        Undefined::Filter(_) => "filter",
        _ => "name",
    }
}

/// ` at line L, column C` for a slice of `code`.
pub fn at(code: &str, part: &str) -> String {
    let offset = (part.as_ptr() as usize).wrapping_sub(code.as_ptr() as usize);
    if offset > code.len() {
        return String::new();
    }
    let before = &code[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!(" at line {line}, column {column}")
}

pub fn load_errors(code: &str, errors: jaq_core::load::Errors<&str, ()>) -> String {
    use jaq_core::load::Error;
    let mut out = Vec::new();
    for (_, error) in errors {
        match error {
            Error::Io(items) => {
                for (path, _) in items {
                    out.push(format!("modules cannot be loaded (`{path}`)"));
                }
            }
            Error::Lex(items) => {
                for (expect, rest) in items {
                    out.push(format!("expected {}{}", expect.as_str(), at(code, rest)));
                }
            }
            Error::Parse(items) => {
                for (expect, found) in items {
                    let shown = if found.is_empty() {
                        "the end of the program".to_owned()
                    } else {
                        format!("`{}`", found.chars().take(20).collect::<String>())
                    };
                    out.push(format!(
                        "expected {} but found {shown}{}",
                        expect.as_str(),
                        at(code, found)
                    ));
                }
            }
        }
    }
    if out.is_empty() {
        "the program does not parse".into()
    } else {
        out.join("; ")
    }
}
