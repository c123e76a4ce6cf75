package app

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestWorker_Pagination walks /Users five at a time, as Microsoft's gallery
// validation does, with and without a filter: every user exactly once, in
// creation order, with startIndex echoed.
func TestWorker_Pagination(t *testing.T) {
	w := newTestWorker(t)
	var ids []string
	for i := range 12 {
		_, u, _ := do(t, w, "POST", "/Users", "", fmt.Sprintf(`{"userName":"p%02d@contoso.com","title":"%s"}`, i, map[bool]string{true: "even", false: "odd"}[i%2 == 0]))
		ids = append(ids, u["id"].(string))
	}
	for _, tc := range []struct {
		name   string
		filter string
		want   []string
	}{
		{name: "all", want: ids},
		{name: "filtered", filter: "&filter=title+eq+%22even%22", want: []string{ids[0], ids[2], ids[4], ids[6], ids[8], ids[10]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var seen []string
			for start := 1; start <= len(tc.want)+5; start += 5 {
				status, page, _ := do(t, w, "GET", "/Users", fmt.Sprintf("startIndex=%d&count=5%s", start, tc.filter), "")
				require.Equal(t, 200, status)
				require.EqualValues(t, len(tc.want), page["totalResults"])
				require.EqualValues(t, start, page["startIndex"])
				res := page["Resources"].([]any)
				require.EqualValues(t, len(res), page["itemsPerPage"])
				for _, r := range res {
					seen = append(seen, r.(map[string]any)["id"].(string))
				}
			}
			require.Equal(t, tc.want, seen)
		})
	}
}
