package store

import "testing"

func TestVerb(t *testing.T) {
	tests := []struct{ sql, want string }{
		{"BEGIN", "BEGIN"},
		{"  select id FROM users", "SELECT"},
		{"\n\t\tINSERT INTO members (group_id, user_id)", "INSERT"},
		{"(SELECT 1) UNION (SELECT 2)", "SELECT"},
		{"WITH x AS (SELECT 1) SELECT * FROM x", "WITH"},
		{"-- name: InsertLog :exec\nINSERT INTO scim_requests (at)", "INSERT"},
		{"-- name: X :one\n-- more\n  select 1", "SELECT"},
		{"-- only a comment", ""},
		{"", ""},
	}
	for _, tc := range tests {
		t.Run(tc.sql, func(t *testing.T) {
			if got := verb(tc.sql); got != tc.want {
				t.Fatalf("verb(%q) = %q, want %q", tc.sql, got, tc.want)
			}
		})
	}
}
