//! Columns laid out like Go's `tabwriter` with Docker's settings (minimum width 10,
//! padding 3): what `docker images` prints.

const MIN_WIDTH: usize = 10;
const PADDING: usize = 3;

pub fn render(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; columns];
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count() + PADDING).max(MIN_WIDTH);
        }
    }
    let mut out = String::new();
    for row in rows {
        let last = row.len().saturating_sub(1);
        for (i, cell) in row.iter().enumerate() {
            out.push_str(cell);
            if i < last {
                let pad = widths[i] - cell.chars().count();
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_like_docker() {
        let rows = vec![
            vec!["REPOSITORY".to_string(), "TAG".into(), "SIZE".into()],
            vec!["redis".into(), "latest".into(), "117MB".into()],
        ];
        assert_eq!(
            render(&rows),
            "REPOSITORY   TAG       SIZE\nredis        latest    117MB\n"
        );
    }
}
