package store

import (
	"testing"
	"time"
)

// sqlc types a nullable aggregate (min, max) as any; timeOrNil reads it.
func TestTimeOrNil(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name string
		in   any
		want *time.Time
	}{
		{"null", nil, nil},
		{"time", at, &at},
		{"other type", "2026-01-02", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := timeOrNil(tc.in)
			if (got == nil) != (tc.want == nil) || (got != nil && !got.Equal(*tc.want)) {
				t.Fatalf("timeOrNil(%v) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}
