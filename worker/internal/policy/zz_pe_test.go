package policy_test

import (
	"context"
	"os"
	"testing"

	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/util"
)

func TestPE(t *testing.T) {
	src, _ := os.ReadFile("/work/main/policies/permissions.rego")
	raw, _ := os.ReadFile("/work/main/policies/mapping/data.json")
	var mapping map[string]any
	util.UnmarshalJSON(raw, &mapping)
	pr, err := rego.New(rego.Query("data.scimplane.permissions.decision"), rego.Module("p.rego", string(src)), rego.Data(map[string]any{"mapping": mapping}), rego.DisableInlining([]string{"data.scimplane.permissions.grants", "data.scimplane.permissions.grant_index"})).Partial(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range pr.Queries {
		t.Log("QUERY", q)
	}
	for _, m := range pr.Support {
		t.Log("SUPPORT\n", m)
	}
}
