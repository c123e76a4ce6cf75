package provision

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/plugins/scim"
)

func TestPreconditions_Check(t *testing.T) {
	const v = 7
	tests := []struct {
		name string
		pre  Preconditions
		read bool
		want int // 0 proceed, 304, 412
	}{
		{"none", Preconditions{}, false, 0},
		{"if-match weak equal", Preconditions{IfMatch: `W/"7"`}, false, 0},
		{"if-match strong tag, weak comparison", Preconditions{IfMatch: `"7"`}, false, 0},
		{"if-match lower-case weakness marker", Preconditions{IfMatch: `w/"7"`}, false, 0},
		{"if-match unquoted", Preconditions{IfMatch: `7`}, false, 0},
		{"if-match stale", Preconditions{IfMatch: `W/"6"`}, false, 412},
		{"if-match stale on GET", Preconditions{IfMatch: `W/"6"`}, true, 412},
		{"if-match list with current", Preconditions{IfMatch: `W/"5", W/"7"`}, false, 0},
		{"if-match list without current", Preconditions{IfMatch: `W/"5",W/"6"`}, false, 412},
		{"if-match comma inside quotes", Preconditions{IfMatch: `"7,8"`}, false, 412},
		{"if-match star", Preconditions{IfMatch: `*`}, false, 0},
		{"if-match garbage", Preconditions{IfMatch: `W/`}, false, 412},
		{"if-match empty list", Preconditions{IfMatch: ` , `}, false, 412},
		{"if-none-match equal on GET", Preconditions{IfNoneMatch: `W/"7"`}, true, 304},
		{"if-none-match star on GET", Preconditions{IfNoneMatch: `*`}, true, 304},
		{"if-none-match other on GET", Preconditions{IfNoneMatch: `W/"6"`}, true, 0},
		{"if-none-match equal on write", Preconditions{IfNoneMatch: `W/"7"`}, false, 412},
		{"if-none-match star on write", Preconditions{IfNoneMatch: `*`}, false, 412},
		{"if-none-match other on write", Preconditions{IfNoneMatch: `"1", "2"`}, false, 0},
		{"if-match checked first", Preconditions{IfMatch: `W/"6"`, IfNoneMatch: `W/"7"`}, true, 412},
		{"both pass", Preconditions{IfMatch: `W/"7"`, IfNoneMatch: `W/"6"`}, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.pre.check(v, tt.read)
			switch tt.want {
			case 0:
				require.NoError(t, err)
			case 304:
				require.ErrorIs(t, err, errNotModified)
			default:
				var se *scim.Error
				require.True(t, errors.As(err, &se), "got %v", err)
				require.Equal(t, 412, se.Status)
				require.Equal(t, TypePreconditionFailed, se.ScimType)
				require.Contains(t, se.Detail, `W/"7"`)
			}
		})
	}
}
