package policy_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/scimplane/scimplane/worker/internal/policy"
	"github.com/scimplane/scimplane/worker/internal/provision"
)

// benchInput is one user in five groups, two of them mapped by the default
// mapping and one mapped under a department condition that holds.
func benchInput() input {
	return input{
		User: user(true, "Human Resources"),
		Groups: []provision.GroupRef{
			group("g-1", "Forms Viewers"),
			group("g-2", "Forms Users"),
			group("g-3", "Sales EMEA"),
			group("g-4", "HR"),
			group("g-5", "All Employees"),
		},
	}
}

func BenchmarkDecide(b *testing.B) {
	d := compile(b, defaultBundle(b), policy.Options{})
	ctx := context.Background()
	in := benchInput()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Decide(ctx, in.User, in.Groups); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecide_parallel(b *testing.B) {
	d := compile(b, defaultBundle(b), policy.Options{})
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		in := benchInput()
		for pb.Next() {
			if _, err := d.Decide(ctx, in.User, in.Groups); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkDecide_bulk100k recomputes a directory of 100,000 users in 5,000
// groups, three groups each (one of the five mapped ones), one goroutine, as
// a policy activation does.
func BenchmarkDecide_bulk100k(b *testing.B) {
	const users, groups = 100_000, 5_000
	mapped := []string{"Forms Viewers", "Forms Users", "Forms Designers", "HR", "Forms Administrators"}
	departments := []string{"Engineering", "Human Resources", "Sales", "Finance"}
	directory := make([]provision.GroupRef, groups)
	for i := range directory {
		name := fmt.Sprintf("Group %d", i)
		if i < len(mapped) {
			name = mapped[i]
		}
		directory[i] = group(fmt.Sprintf("g-%d", i), name)
	}
	inputs := make([]input, users)
	for i := range inputs {
		u := user(i%50 != 0, departments[i%len(departments)])
		u["id"] = fmt.Sprintf("u-%d", i)
		u["userName"] = fmt.Sprintf("user%d@example.com", i)
		inputs[i] = input{User: u, Groups: []provision.GroupRef{
			directory[i%len(mapped)],
			directory[len(mapped)+(i*7)%(groups-len(mapped))],
			directory[len(mapped)+(i*13+1)%(groups-len(mapped))],
		}}
	}

	d := compile(b, defaultBundle(b), policy.Options{Timeout: time.Second})
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, in := range inputs {
			if _, err := d.Decide(ctx, in.User, in.Groups); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*users), "ns/user")
}

// BenchmarkValidate_sandbox is what checking the default policy costs in
// a sandbox process (compile and tests), against BenchmarkValidate_inProcess.
func BenchmarkValidate_sandbox(b *testing.B) {
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	s := policy.NewSandbox(exe, policy.Limits{})
	bundle := defaultBundle(b)
	for b.Loop() {
		if _, err := s.Check(context.Background(), bundle); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidate_inProcess(b *testing.B) {
	bundle := defaultBundle(b)
	ctx := context.Background()
	for b.Loop() {
		if _, err := policy.Compile(ctx, bundle, policy.Options{}); err != nil {
			b.Fatal(err)
		}
		if _, err := policy.RunTests(ctx, bundle); err != nil {
			b.Fatal(err)
		}
	}
}
