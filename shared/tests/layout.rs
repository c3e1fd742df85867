//! Guards the layout (issue #25): no import circle among the modules of any
//! crate of the workspace, and no import from a lower layer up — neither
//! between the concepts of `shared/src/domain/` (the order of
//! `domain::CONCEPTS`) nor between the shared crate's own parts (the order
//! of `LAYERS` in `lib.rs`).
//!
//! Each file is parsed with `syn`; every path it names (in `use` items and
//! in code) is resolved to the module that defines it, through the
//! re-exports of a `mod.rs` (a `pub use` there is a facade, not a
//! dependency of its own). Test modules (`#[cfg(test)]`) are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

type ModPath = Vec<String>;

/// One crate's modules, each with the modules it depends on.
struct Crate {
    name: String,
    /// Every module of the crate (a file or an inline module).
    modules: BTreeSet<ModPath>,
    /// A module's re-exports: name → the path it stands for.
    reexports: BTreeMap<ModPath, BTreeMap<String, ModPath>>,
    /// The raw references of each module, as absolute paths.
    references: BTreeMap<ModPath, Vec<ModPath>>,
}

impl Crate {
    fn read(name: &str, root: &Path) -> Crate {
        let mut krate = Crate {
            name: name.to_owned(),
            modules: BTreeSet::new(),
            reexports: BTreeMap::new(),
            references: BTreeMap::new(),
        };
        let entry = ["lib.rs", "main.rs"]
            .iter()
            .map(|f| root.join(f))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("{name}: no lib.rs or main.rs in {}", root.display()));
        krate.read_file(&entry, Vec::new());
        // A binary beside a library: its main.rs too.
        let main = root.join("main.rs");
        if entry != main && main.exists() {
            krate.read_file(&main, vec!["<main>".into()]);
        }
        krate
    }

    fn read_file(&mut self, file: &Path, module: ModPath) {
        let text =
            std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let parsed = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        // Where this module's `mod x;` files live.
        let dir = match file.file_name().and_then(|n| n.to_str()) {
            Some("lib.rs" | "main.rs" | "mod.rs") => file.parent().map(Path::to_path_buf),
            _ => Some(file.with_extension("")),
        }
        .unwrap_or_default();
        self.read_items(&parsed.items, module, &dir);
    }

    fn read_items(&mut self, items: &[syn::Item], module: ModPath, dir: &Path) {
        self.modules.insert(module.clone());
        let mut collector = Collector {
            module: &module,
            paths: Vec::new(),
        };
        for item in items {
            if is_test(item) {
                continue;
            }
            match item {
                syn::Item::Mod(m) => {
                    let mut child = module.clone();
                    child.push(m.ident.to_string());
                    match &m.content {
                        Some((_, inner)) => {
                            self.read_items(inner, child, &dir.join(m.ident.to_string()));
                        }
                        None => {
                            let name = m.ident.to_string();
                            let file = [
                                dir.join(format!("{name}.rs")),
                                dir.join(&name).join("mod.rs"),
                            ]
                            .into_iter()
                            .find(|p| p.exists())
                            .unwrap_or_else(|| {
                                panic!("no file for mod {name} in {}", dir.display())
                            });
                            self.read_file(&file, child);
                        }
                    }
                }
                syn::Item::Use(u) if matches!(u.vis, syn::Visibility::Public(_)) => {
                    // A facade: what it names is resolved through it.
                    let mut flat = Vec::new();
                    flatten(&u.tree, Vec::new(), &mut flat);
                    for (path, alias) in flat {
                        if let Some(absolute) = absolute(&module, &path) {
                            self.reexports
                                .entry(module.clone())
                                .or_default()
                                .insert(alias, absolute);
                        }
                    }
                }
                other => collector.visit_item(other),
            }
        }
        let paths = collector.paths;
        self.references.entry(module).or_default().extend(paths);
    }

    /// The module a path's item is defined in, following re-exports.
    fn resolve(&self, path: &[String]) -> Option<ModPath> {
        let mut path = path.to_vec();
        for _ in 0..16 {
            let (module, rest) = (0..=path.len())
                .rev()
                .map(|n| (path[..n].to_vec(), &path[n..]))
                .find(|(m, _)| self.modules.contains(m))?;
            let Some(first) = rest.first() else {
                return Some(module);
            };
            match self.reexports.get(&module).and_then(|r| r.get(first)) {
                Some(target) => {
                    let mut next = target.clone();
                    next.extend(rest[1..].iter().cloned());
                    path = next;
                }
                None => return Some(module),
            }
        }
        None
    }

    /// Module → the other modules it depends on. A binary crate's root
    /// (a function's `lib.rs`, the CLI's) is its wiring: it declares the
    /// modules, holds the handler state they are written against, and
    /// assembles them into the router or the command; its edges to and
    /// from its own modules are that assembly, not an import circle. The
    /// shared crate's root holds re-exports only, so nothing is lost there.
    fn edges(&self) -> BTreeMap<ModPath, BTreeSet<ModPath>> {
        let mut edges: BTreeMap<ModPath, BTreeSet<ModPath>> = BTreeMap::new();
        for (from, paths) in &self.references {
            for path in paths {
                if let Some(to) = self.resolve(path)
                    && &to != from
                    && !from.is_empty()
                    && !to.is_empty()
                {
                    edges.entry(from.clone()).or_default().insert(to);
                }
            }
        }
        edges
    }

    /// Every import circle: the strongly connected parts of more than one
    /// module (Tarjan's algorithm).
    fn circles(&self) -> Vec<Vec<String>> {
        let edges = self.edges();
        let nodes: Vec<&ModPath> = self.modules.iter().collect();
        let index_of: BTreeMap<&ModPath, usize> =
            nodes.iter().enumerate().map(|(i, m)| (*m, i)).collect();
        let mut state = Tarjan {
            index: vec![None; nodes.len()],
            low: vec![0; nodes.len()],
            on_stack: vec![false; nodes.len()],
            stack: Vec::new(),
            next: 0,
            found: Vec::new(),
        };
        let successors = |i: usize| -> Vec<usize> {
            edges
                .get(nodes[i])
                .into_iter()
                .flatten()
                .filter_map(|m| index_of.get(m).copied())
                .collect()
        };
        for i in 0..nodes.len() {
            if state.index[i].is_none() {
                state.visit(i, &successors);
            }
        }
        state
            .found
            .into_iter()
            .map(|part| part.into_iter().map(|i| display(nodes[i])).collect())
            .collect()
    }
}

struct Tarjan {
    index: Vec<Option<usize>>,
    low: Vec<usize>,
    on_stack: Vec<bool>,
    stack: Vec<usize>,
    next: usize,
    found: Vec<Vec<usize>>,
}

impl Tarjan {
    fn visit(&mut self, v: usize, successors: &dyn Fn(usize) -> Vec<usize>) {
        self.index[v] = Some(self.next);
        self.low[v] = self.next;
        self.next += 1;
        self.stack.push(v);
        self.on_stack[v] = true;
        for w in successors(v) {
            match self.index[w] {
                None => {
                    self.visit(w, successors);
                    self.low[v] = self.low[v].min(self.low[w]);
                }
                Some(iw) if self.on_stack[w] => self.low[v] = self.low[v].min(iw),
                Some(_) => {}
            }
        }
        if Some(self.low[v]) == self.index[v] {
            let mut part = Vec::new();
            while let Some(w) = self.stack.pop() {
                self.on_stack[w] = false;
                part.push(w);
                if w == v {
                    break;
                }
            }
            if part.len() > 1 {
                part.sort_unstable();
                self.found.push(part);
            }
        }
    }
}

/// Collects the paths a module's code names.
struct Collector<'a> {
    module: &'a ModPath,
    paths: Vec<ModPath>,
}

impl<'ast> Visit<'ast> for Collector<'_> {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        if !is_test(item) {
            syn::visit::visit_item(self, item);
        }
    }

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        let mut flat = Vec::new();
        flatten(&u.tree, Vec::new(), &mut flat);
        for (path, _) in flat {
            if let Some(absolute) = absolute(self.module, &path) {
                self.paths.push(absolute);
            }
        }
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        if let Some(absolute) = absolute(self.module, &segments) {
            self.paths.push(absolute);
        }
        syn::visit::visit_path(self, path);
    }
}

fn is_test(item: &syn::Item) -> bool {
    let attrs = match item {
        syn::Item::Mod(m) => &m.attrs,
        syn::Item::Fn(f) => &f.attrs,
        syn::Item::Use(u) => &u.attrs,
        syn::Item::Impl(i) => &i.attrs,
        _ => return false,
    };
    attrs.iter().any(|a| {
        a.path().is_ident("cfg") && a.parse_args::<syn::Ident>().is_ok_and(|i| i == "test")
    })
}

/// A `use` tree as (path, the name it is known by).
fn flatten(tree: &syn::UseTree, prefix: Vec<String>, out: &mut Vec<(Vec<String>, String)>) {
    match tree {
        syn::UseTree::Path(p) => {
            let mut next = prefix;
            next.push(p.ident.to_string());
            flatten(&p.tree, next, out);
        }
        syn::UseTree::Name(n) => {
            let name = n.ident.to_string();
            let mut path = prefix;
            if name != "self" {
                path.push(name.clone());
            }
            let alias = path.last().cloned().unwrap_or(name);
            out.push((path, alias));
        }
        syn::UseTree::Rename(r) => {
            let mut path = prefix;
            if r.ident != "self" {
                path.push(r.ident.to_string());
            }
            out.push((path, r.rename.to_string()));
        }
        syn::UseTree::Glob(_) => out.push((prefix, "*".into())),
        syn::UseTree::Group(g) => {
            for t in &g.items {
                flatten(t, prefix.clone(), out);
            }
        }
    }
}

/// `path`, named in `module`, from the crate's root. A path that starts
/// with a bare name is taken as relative to `module` (a child module, or a
/// name it imports or re-exports); one that names another crate then
/// resolves to `module` itself, which is no dependency.
fn absolute(module: &ModPath, path: &[String]) -> Option<ModPath> {
    let first = path.first()?;
    let mut base = match first.as_str() {
        "crate" => Vec::new(),
        "self" => module.clone(),
        "super" => {
            let mut base = module.clone();
            let mut rest = path;
            while rest.first().is_some_and(|s| s == "super") {
                base.pop()?;
                rest = &rest[1..];
            }
            base.extend(rest.iter().cloned());
            return Some(base);
        }
        _ => {
            let mut base = module.clone();
            base.extend(path.iter().cloned());
            return Some(base);
        }
    };
    base.extend(path[1..].iter().cloned());
    Some(base)
}

fn display(module: &ModPath) -> String {
    if module.is_empty() {
        "crate".into()
    } else {
        module.join("::")
    }
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every crate of the workspace: (name, its `src`).
fn crates() -> Vec<(String, PathBuf)> {
    let root = workspace();
    let mut found = vec![
        ("shared".to_owned(), root.join("shared/src")),
        ("cli".to_owned(), root.join("cli/src")),
        ("tests".to_owned(), root.join("tests/src")),
        ("bench".to_owned(), root.join("bench/src")),
    ];
    let mut functions: Vec<_> = std::fs::read_dir(root.join("functions"))
        .expect("functions/")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.join("src").is_dir())
        .collect();
    functions.sort();
    for f in functions {
        let name = f
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        found.push((name, f.join("src")));
    }
    found
}

#[test]
fn no_crate_of_the_workspace_has_an_import_circle() {
    let mut circles = Vec::new();
    for (name, src) in crates() {
        let krate = Crate::read(&name, &src);
        assert!(krate.modules.len() > 1 || name != "shared", "read {name}");
        for part in krate.circles() {
            circles.push(format!("{}: {}", krate.name, part.join(" <-> ")));
        }
    }
    assert!(
        circles.is_empty(),
        "import circles:\n{}",
        circles.join("\n")
    );
}

/// The rank of `module` in `order` (its first segment after `prefix`).
fn rank(order: &[&[&str]], prefix: &[&str], module: &ModPath) -> Option<usize> {
    let rest =
        module.strip_prefix(&prefix.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()[..])?;
    let first = rest.first()?;
    order
        .iter()
        .position(|layer| layer.contains(&first.as_str()))
}

/// Every import of a module from one of a higher rank.
fn upward(krate: &Crate, order: &[&[&str]], prefix: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for (from, tos) in krate.edges() {
        let Some(low) = rank(order, prefix, &from) else {
            continue;
        };
        for to in tos {
            let Some(high) = rank(order, prefix, &to) else {
                continue;
            };
            // Two parts of one layer do not use each other either.
            let same_part = from.get(prefix.len()) == to.get(prefix.len());
            if high > low || (high == low && !same_part) {
                found.push(format!("{} -> {}", display(&from), display(&to)));
            }
        }
    }
    found
}

#[test]
fn the_domain_concepts_depend_only_downward() {
    let krate = Crate::read("shared", &workspace().join("shared/src"));
    let order: Vec<&[&str]> = inc_shared::domain::CONCEPTS
        .iter()
        .map(std::slice::from_ref)
        .collect();
    // Every folder of domain/ is a concept of the rule, and the other way.
    let dir = workspace().join("shared/src/domain");
    let mut folders: Vec<String> = std::fs::read_dir(&dir)
        .expect("domain/")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .collect();
    folders.sort();
    let mut concepts: Vec<String> = inc_shared::domain::CONCEPTS
        .iter()
        .map(|c| (*c).to_owned())
        .collect();
    concepts.sort();
    assert_eq!(folders, concepts, "domain/'s folders are its concepts");
    let stray: Vec<String> = krate
        .modules
        .iter()
        .filter(|m| m.len() == 2 && m[0] == "domain" && !concepts.contains(&m[1]))
        .map(display)
        .collect();
    assert!(
        stray.is_empty(),
        "modules of domain/ outside a concept: {stray:?}"
    );
    let up = upward(&krate, &order, &["domain"]);
    assert!(
        up.is_empty(),
        "imports from a lower concept up:\n{}",
        up.join("\n")
    );
}

#[test]
fn the_shared_crate_depends_only_downward() {
    let krate = Crate::read("shared", &workspace().join("shared/src"));
    let up = upward(&krate, inc_shared::LAYERS, &[]);
    assert!(
        up.is_empty(),
        "imports from a lower layer up:\n{}",
        up.join("\n")
    );
    // Every top-level module has its place.
    let placed: BTreeSet<&str> = inc_shared::LAYERS
        .iter()
        .flat_map(|l| l.iter().copied())
        .collect();
    let unplaced: Vec<String> = krate
        .modules
        .iter()
        .filter(|m| m.len() == 1 && !placed.contains(m[0].as_str()))
        .map(display)
        .collect();
    assert!(unplaced.is_empty(), "modules without a layer: {unplaced:?}");
}

/// The checker itself finds what it guards against.
#[test]
fn the_checker_sees_a_circle_and_an_upward_import() {
    let dir = std::env::temp_dir().join(format!("inc-layout-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("low")).expect("dir");
    let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).expect("write");
    write(
        "lib.rs",
        "pub mod low;\npub mod high;\npub use high::Top;\n",
    );
    write("low/mod.rs", "pub mod a;\npub mod b;\n");
    write("low/a.rs", "use super::b::B;\npub struct A(B);\n");
    write(
        "low/b.rs",
        "pub struct B;\nfn f() -> crate::Top { crate::Top }\n",
    );
    write("high.rs", "pub struct Top;\nuse crate::low::a::A;\n");
    let krate = Crate::read("sample", &dir);
    let circles = krate.circles();
    assert_eq!(
        circles,
        vec![vec![
            "high".to_owned(),
            "low::a".to_owned(),
            "low::b".to_owned()
        ]],
        "b reaches high through the crate's re-export"
    );
    let up = upward(&krate, &[&["low"], &["high"]], &[]);
    assert_eq!(up, ["low::b -> high"]);
    let _ = std::fs::remove_dir_all(&dir);
}
