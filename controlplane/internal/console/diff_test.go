package console

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/plugins/scimworker"
)

// render writes a diff as one "op text" line each.
func render(lines []diffLine) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(string(l.Op) + " " + l.Text + "\n")
	}
	return b.String()
}

func TestLineDiff(t *testing.T) {
	for _, tc := range []struct {
		name, old, new, want string
	}{
		{"same", "a\nb\n", "a\nb\n", "  a\n  b\n"},
		{"added", "", "a\n", "+ a\n"},
		{"removed", "a\n", "", "- a\n"},
		{"changed line", "a\nb\nc\n", "a\nB\nc\n", "  a\n- b\n+ B\n  c\n"},
		{"insert in middle", "a\nc\n", "a\nb\nc\n", "  a\n+ b\n  c\n"},
		{"folds long runs", "1\n2\n3\n4\n5\n6\nx\n", "1\n2\n3\n4\n5\n6\ny\n", "… 3 unchanged lines\n  4\n  5\n  6\n- x\n+ y\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, render(lineDiff(tc.old, tc.new, 3)))
		})
	}
}

func TestLineDiff_LineNumbers(t *testing.T) {
	lines := lineDiff("a\nb\nc\n", "a\nx\nb\nc\n", 3)
	require.Equal(t, []diffLine{
		{Op: ' ', Text: "a", Old: 1, New: 1},
		{Op: '+', Text: "x", New: 2},
		{Op: ' ', Text: "b", Old: 2, New: 3},
		{Op: ' ', Text: "c", Old: 3, New: 4},
	}, lines)
	require.True(t, changed(lines))
	require.False(t, changed(lineDiff("a\n", "a\n", 3)))
}

func TestPlace(t *testing.T) {
	ed := &editor{Mapping: editorFile{Name: mappingFile}, Modules: []editorFile{{Name: "p.rego"}}}
	place(ed,
		[]scimworker.PolicyProblem{{File: "p.rego", Line: 3, Column: 5, Message: "unexpected token"}, {File: "gone.rego", Message: "odd"}},
		[]scimworker.PolicyTest{{Name: "test_x", Outcome: "fail", File: mappingFile, Line: 7}, {Name: "test_y", Outcome: "pass", File: "p.rego"}},
	)
	require.Equal(t, []string{"p.rego:3:5: unexpected token"}, ed.Modules[0].Problems)
	require.Equal(t, []string{"mapping/data.json:7: test test_x fail"}, ed.Mapping.Problems)
	require.Equal(t, []string{"gone.rego: odd"}, ed.Other)
}
