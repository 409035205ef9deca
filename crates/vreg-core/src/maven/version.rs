//! Maven's version order, as Maven 3.9's `ComparableVersion` defines it.
//!
//! A version is read into a tree of items: numbers, qualifiers (strings)
//! and sub-lists. `.` separates items of one list; `-`, and a change from
//! letters to digits or back, starts a sub-list. So `1.0-alpha-1` is
//! `[1, [alpha, [1]]]` and `1.0.0.x1` is `[1, [x, [1]]]` (a qualifier after
//! a dot counts as if after a hyphen). Trailing "null" items (0, a release
//! qualifier, an empty list) are dropped, so `1.0.0 == 1`.
//!
//! Items of different kinds order as number > list > qualifier; qualifiers
//! as alpha < beta < milestone < rc < snapshot < release < sp < any other
//! (alphabetically); a missing item compares as null. Only ASCII digits
//! count as digits (Java's `isDigit` also takes other scripts' digits).

use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq)]
enum Item {
    /// Decimal digits, without leading zeros ("" is 0).
    Number(String),
    Qualifier(String),
    List(Vec<Item>),
}

const QUALIFIERS: [&str; 7] = ["alpha", "beta", "milestone", "rc", "snapshot", "", "sp"];
/// The rank of the release qualifier ("", "ga", "final", "release").
const RELEASE: usize = 5;

/// A qualifier as Maven reads it: `a1`, `b1`, `m1` stand for alpha, beta,
/// milestone when a digit follows; `ga`, `final`, `release` for the release;
/// `cr` for `rc`.
fn qualifier(text: &str, followed_by_digit: bool) -> Item {
    let text = match (text, followed_by_digit) {
        ("a", true) => "alpha",
        ("b", true) => "beta",
        ("m", true) => "milestone",
        ("ga" | "final" | "release", _) => "",
        ("cr", _) => "rc",
        (other, _) => other,
    };
    Item::Qualifier(text.to_owned())
}

/// Known qualifiers by rank, then unknown ones alphabetically.
fn qualifier_cmp(a: &str, b: &str) -> Ordering {
    let rank = |q: &str| QUALIFIERS.iter().position(|k| *k == q);
    match (rank(a), rank(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

fn number(digits: &str) -> Item {
    Item::Number(digits.trim_start_matches('0').to_owned())
}

impl Item {
    fn is_null(&self) -> bool {
        match self {
            Item::Number(n) => n.is_empty(),
            Item::Qualifier(q) => q.is_empty(),
            Item::List(items) => items.is_empty(),
        }
    }

    /// Compares with another item, or with nothing (`None`, padding).
    fn cmp_to(&self, other: Option<&Item>) -> Ordering {
        use Item::*;
        match (self, other) {
            (Number(n), None) => {
                if n.is_empty() {
                    Ordering::Equal
                } else {
                    Ordering::Greater
                }
            }
            (Qualifier(q), None) => qualifier_cmp(q, QUALIFIERS[RELEASE]),
            (List(items), None) => items
                .iter()
                .map(|i| i.cmp_to(None))
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal),
            (Number(a), Some(Number(b))) => a.len().cmp(&b.len()).then_with(|| a.cmp(b)),
            (Number(_), Some(_)) => Ordering::Greater,
            (Qualifier(_), Some(Number(_) | List(_))) => Ordering::Less,
            (Qualifier(a), Some(Qualifier(b))) => qualifier_cmp(a, b),
            (List(_), Some(Number(_))) => Ordering::Less,
            (List(_), Some(Qualifier(_))) => Ordering::Greater,
            (List(a), Some(List(b))) => {
                for i in 0..a.len().max(b.len()) {
                    let order = match (a.get(i), b.get(i)) {
                        (Some(x), y) => x.cmp_to(y),
                        (None, Some(y)) => y.cmp_to(None).reverse(),
                        (None, None) => Ordering::Equal,
                    };
                    if order.is_ne() {
                        return order;
                    }
                }
                Ordering::Equal
            }
        }
    }

    fn canonical(&self) -> String {
        match self {
            Item::Number(n) if n.is_empty() => "0".into(),
            Item::Number(n) => n.clone(),
            Item::Qualifier(q) => q.clone(),
            Item::List(items) => {
                let mut out = String::new();
                for item in items {
                    if !out.is_empty() {
                        out.push(if matches!(item, Item::List(_)) {
                            '-'
                        } else {
                            '.'
                        });
                    }
                    out.push_str(&item.canonical());
                }
                out
            }
        }
    }
}

/// A parsed Maven version.
#[derive(Debug, Clone)]
pub struct MavenVersion(Item);

/// The list being filled: a path of indexes from the root into nested lists.
struct Builder {
    root: Vec<Item>,
    path: Vec<usize>,
}

impl Builder {
    fn current(&mut self) -> &mut Vec<Item> {
        let mut list = &mut self.root;
        for &i in &self.path {
            let Item::List(inner) = &mut list[i] else {
                unreachable!("paths lead to lists")
            };
            list = inner;
        }
        list
    }

    fn push(&mut self, item: Item) {
        self.current().push(item);
    }

    /// Appends a new sub-list to the current list and makes it current.
    fn open_list(&mut self) {
        let list = self.current();
        list.push(Item::List(Vec::new()));
        let index = list.len() - 1;
        self.path.push(index);
    }

    fn into_item(self) -> Item {
        let mut root = Item::List(self.root);
        normalize(&mut root);
        root
    }
}

/// Drops trailing null items, innermost lists first; a non-null item that
/// is not a list stops the dropping.
fn normalize(item: &mut Item) {
    let Item::List(items) = item else { return };
    for child in items.iter_mut() {
        normalize(child);
    }
    let mut i = items.len();
    while i > 0 {
        i -= 1;
        if items[i].is_null() {
            items.remove(i);
        } else if !matches!(items[i], Item::List(_)) {
            break;
        }
    }
}

impl MavenVersion {
    pub fn parse(text: &str) -> MavenVersion {
        let version = text.to_lowercase();
        let chars: Vec<char> = version.chars().collect();
        let mut b = Builder {
            root: Vec::new(),
            path: Vec::new(),
        };
        let slice = |from: usize, to: usize| chars[from..to].iter().collect::<String>();
        let item = |digits: bool, text: String| {
            if digits {
                number(&text)
            } else {
                qualifier(&text, false)
            }
        };
        let (mut digits, mut start) = (false, 0);
        for (i, &c) in chars.iter().enumerate() {
            if c == '.' || c == '-' {
                if i == start {
                    b.push(Item::Number(String::new()));
                } else {
                    b.push(item(digits, slice(start, i)));
                }
                start = i + 1;
                if c == '-' {
                    b.open_list();
                }
            } else if c.is_ascii_digit() {
                if !digits && i > start {
                    // `.x1` reads as `-x1`.
                    if !b.current().is_empty() {
                        b.open_list();
                    }
                    b.push(qualifier(&slice(start, i), true));
                    start = i;
                    b.open_list();
                }
                digits = true;
            } else {
                if digits && i > start {
                    b.push(number(&slice(start, i)));
                    start = i;
                    b.open_list();
                }
                digits = false;
            }
        }
        if chars.len() > start {
            if !digits && !b.current().is_empty() {
                b.open_list();
            }
            b.push(item(digits, slice(start, chars.len())));
        }
        MavenVersion(b.into_item())
    }

    /// The canonical form: equal versions have equal canonical forms.
    pub fn canonical(&self) -> String {
        self.0.canonical()
    }
}

impl Ord for MavenVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.cmp_to(Some(&other.0))
    }
}

impl PartialOrd for MavenVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for MavenVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for MavenVersion {}

/// Maven's order of two version strings.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    MavenVersion::parse(a).cmp(&MavenVersion::parse(b))
}
