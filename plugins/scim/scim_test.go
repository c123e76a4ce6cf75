package scim_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/plugins/scim"
)

func TestError_EnvelopeAndMessage(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  *scim.Error
		body string
		msg  string
	}{
		{
			name: "with scimType",
			err:  scim.NewError(400, scim.TypeInvalidFilter, "bad filter"),
			body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"400","scimType":"invalidFilter","detail":"bad filter"}`,
			msg:  "400 invalidFilter: bad filter",
		},
		{
			// Status is a string in the envelope, as RFC 7644's examples
			// and Entra expect; an empty scimType and detail are left out.
			name: "status only",
			err:  scim.NewError(404, "", ""),
			body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"404"}`,
			msg:  "404: ",
		},
		{
			name: "detail that needs escaping",
			err:  scim.NewError(409, scim.TypeUniqueness, `userName "a<b>" exists`),
			body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"409","scimType":"uniqueness","detail":"userName \"a\u003cb\u003e\" exists"}`,
			msg:  `409 uniqueness: userName "a<b>" exists`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.JSONEq(t, tc.body, string(tc.err.Body()))
			b, err := json.Marshal(tc.err)
			require.NoError(t, err)
			require.Equal(t, tc.err.Body(), b)
			require.Equal(t, tc.msg, tc.err.Error())
		})
	}
}

// A wrapped SCIM error is still found with errors.As, which is how every
// reader of it must look for one.
func TestError_FoundThroughWrapping(t *testing.T) {
	err := fmt.Errorf("patch user: %w", scim.NewError(400, scim.TypeMutability, "id is read-only"))
	var se *scim.Error
	require.True(t, errors.As(err, &se))
	require.Equal(t, scim.TypeMutability, se.ScimType)
}
