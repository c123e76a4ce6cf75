package console

import (
	"strconv"
	"strings"
)

// diffLine is one line of a line diff. Op is ' ' (both), '-' (only in the
// old text), '+' (only in the new text) or '…' (Text says how many
// unchanged lines were folded).
type diffLine struct {
	Op       rune
	Text     string
	Old, New int // 1-based line numbers; 0 where the line is absent
}

// maxDiffCells bounds the LCS table; larger inputs diff as "all replaced".
const maxDiffCells = 4_000_000

// lineDiff returns the line diff of old and new. When they differ,
// unchanged runs longer than 2*context are folded.
func lineDiff(old, new string, context int) []diffLine {
	a, b := splitLines(old), splitLines(new)
	// Common prefix and suffix need no table.
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	var out []diffLine
	for i := 0; i < pre; i++ {
		out = append(out, diffLine{Op: ' ', Text: a[i], Old: i + 1, New: i + 1})
	}
	out = append(out, middleDiff(a[pre:len(a)-suf], b[pre:len(b)-suf], pre)...)
	for i := 0; i < suf; i++ {
		ai, bi := len(a)-suf+i, len(b)-suf+i
		out = append(out, diffLine{Op: ' ', Text: a[ai], Old: ai + 1, New: bi + 1})
	}
	if !changed(out) {
		return out // shown whole: there is no change to give context to
	}
	return fold(out, context)
}

// middleDiff diffs the differing middle by longest common subsequence.
// offset is the number of lines before it.
func middleDiff(a, b []string, offset int) []diffLine {
	var out []diffLine
	if len(a)*len(b) > maxDiffCells {
		for i, s := range a {
			out = append(out, diffLine{Op: '-', Text: s, Old: offset + i + 1})
		}
		for j, s := range b {
			out = append(out, diffLine{Op: '+', Text: s, New: offset + j + 1})
		}
		return out
	}
	// lcs[i][j] is the LCS length of a[i:] and b[j:].
	lcs := make([][]int32, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int32, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			out = append(out, diffLine{Op: ' ', Text: a[i], Old: offset + i + 1, New: offset + j + 1})
			i++
			j++
		case i < len(a) && (j == len(b) || lcs[i+1][j] >= lcs[i][j+1]):
			out = append(out, diffLine{Op: '-', Text: a[i], Old: offset + i + 1})
			i++
		default:
			out = append(out, diffLine{Op: '+', Text: b[j], New: offset + j + 1})
			j++
		}
	}
	return out
}

// fold replaces each run of unchanged lines longer than 2*context, keeping
// context lines next to each change.
func fold(lines []diffLine, context int) []diffLine {
	var out []diffLine
	for start := 0; start < len(lines); {
		if lines[start].Op != ' ' {
			out = append(out, lines[start])
			start++
			continue
		}
		end := start
		for end < len(lines) && lines[end].Op == ' ' {
			end++
		}
		keepHead, keepTail := context, context
		if start == 0 {
			keepHead = 0
		}
		if end == len(lines) {
			keepTail = 0
		}
		if end-start > keepHead+keepTail+1 {
			out = append(out, lines[start:start+keepHead]...)
			out = append(out, diffLine{Op: '…', Text: strconv.Itoa(end-start-keepHead-keepTail) + " unchanged lines"})
			out = append(out, lines[end-keepTail:end]...)
		} else {
			out = append(out, lines[start:end]...)
		}
		start = end
	}
	return out
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// changed reports whether a diff has any added or removed line.
func changed(lines []diffLine) bool {
	for _, l := range lines {
		if l.Op == '+' || l.Op == '-' {
			return true
		}
	}
	return false
}
