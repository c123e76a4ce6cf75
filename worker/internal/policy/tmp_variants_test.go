package policy_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/scimplane/scimplane/worker/internal/policy"
)

func benchVariant(b *testing.B, edit func(string) string) {
	bb := defaultBundle(b)
	src, _ := os.ReadFile("/work/main/policies/permissions.rego")
	bb.Modules = map[string]string{"p.rego": edit(string(src))}
	d := compile(b, bb, policy.Options{})
	in := policy.Input{User: user(true, ""), Groups: []policy.Group{group("g-1", "Forms Viewers"), group("g-2", "Forms Users"), group("g-3", "Sales"), group("g-4", "HR"), group("g-5", "All")}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Decide(context.Background(), in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVarFull(b *testing.B) { benchVariant(b, func(s string) string { return s }) }
func BenchmarkVarNoGrants(b *testing.B) {
	benchVariant(b, func(s string) string {
		return strings.Replace(s, "grants contains {\"permission\"", "grantsX contains {\"permission\"", 1) + "\ngrants := set()\n"
	})
}
func BenchmarkVarMatchesOnly(b *testing.B) {
	benchVariant(b, func(s string) string {
		return strings.Replace(s, "grants contains {\"permission\"", "grantsX contains {\"permission\"", 1) + "\ngrants := set() if count(matches) > 100\ngrants := set() if count(matches) < 100\n"
	})
}
func BenchmarkVarIndexOnly(b *testing.B) {
	benchVariant(b, func(s string) string {
		return strings.Replace(s, "grants contains {\"permission\"", "grantsX contains {\"permission\"", 1) + "\ngrants := set() if count(grant_index) > 100\ngrants := set() if count(grant_index) < 100\n"
	})
}
