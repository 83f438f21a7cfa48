//! Counted nouns in messages: "1 layer", "2 layers".

/// `n` and the noun, singular for one: `count(1, "layer")` is "1 layer", otherwise an `s`
/// is added ("0 layers", "2 diff_ids").
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_is_singular() {
        assert_eq!(super::count(1, "layer"), "1 layer");
        assert_eq!(super::count(0, "layer"), "0 layers");
        assert_eq!(super::count(2, "diff_id"), "2 diff_ids");
    }
}
