package scimlog

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/plugins/scimworker"
)

func TestFilter(t *testing.T) {
	from := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		query   scimworker.LogQuery
		want    Filter
		refused string
	}{
		{name: "nothing", want: Filter{}},
		{name: "exact status and text", query: scimworker.LogQuery{Status: "409", Q: "dup", Method: "post", Limit: 7},
			want: Filter{Status: 409, Text: "dup", Method: "post", Limit: 7}},
		{name: "status class", query: scimworker.LogQuery{Status: "4XX"}, want: Filter{StatusClass: 4}},
		{name: "time range", query: scimworker.LogQuery{From: from.Format(time.RFC3339), To: from.Add(time.Hour).Format(time.RFC3339Nano)},
			want: Filter{From: from, To: from.Add(time.Hour)}},
		{name: "status not a code", query: scimworker.LogQuery{Status: "teapot"}, refused: "status is a code like 409 or a class like 4xx"},
		{name: "status out of range", query: scimworker.LogQuery{Status: "99"}, refused: "status is a code like 409 or a class like 4xx"},
		{name: "class out of range", query: scimworker.LogQuery{Status: "7xx"}, refused: "status is a code like 409 or a class like 4xx"},
		{name: "bad time", query: scimworker.LogQuery{To: "yesterday"}, refused: "from and to are RFC 3339 times"},
		{name: "cursor", query: scimworker.LogQuery{After: from.Format(time.RFC3339Nano) + ",42"}, want: Filter{AfterAt: from, AfterID: 42}},
		{name: "bad cursor", query: scimworker.LogQuery{After: "not-a-cursor"}, refused: "bad cursor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := filter(&tt.query)
			if tt.refused != "" {
				require.Equal(t, scimworker.BadRequest(tt.refused), err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestQuarantineWarning(t *testing.T) {
	window := func(requests, failures int64) scimworker.LogWindow {
		return scimworker.LogWindow{Requests: requests, Failures: failures, FailureRate: float64(failures) / float64(requests)}
	}
	tests := []struct {
		name     string
		hour     scimworker.LogWindow
		day      scimworker.LogWindow
		contains string
	}{
		{name: "healthy", hour: window(100, 1), day: window(5000, 20)},
		{name: "many failures", hour: window(100, 1), day: window(200000, 30000), contains: "over 30000 failed requests"},
		{name: "high rate", hour: window(100, 1), day: window(3000, 1000), contains: "33% of the last day's requests failed"},
		{name: "high rate, few failures", hour: window(100, 1), day: window(1000, 999)},
		{name: "everything failing now", hour: window(20, 19), day: window(5000, 19), contains: "nearly every request in the last hour failed"},
		{name: "too few requests to tell", hour: window(10, 10), day: window(10, 10)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := quarantineWarning(&scimworker.LogHealth{LastHour: tt.hour, LastDay: tt.day})
			if tt.contains == "" {
				require.Empty(t, got)
			} else {
				require.Contains(t, got, tt.contains)
			}
		})
	}
}

func TestPage(t *testing.T) {
	for _, tt := range []struct{ limit, max, want int }{{0, 500, 50}, {-3, 500, 50}, {20, 500, 20}, {501, 500, 500}, {2000, 1000, 1000}} {
		require.Equal(t, tt.want, page(tt.limit, tt.max), "%+v", tt)
	}
}
