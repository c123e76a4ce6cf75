package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/tests/entrasim"
)

func TestDiffUser(t *testing.T) {
	want := entrasim.UserView{UserName: "a@x.test", Title: "Engineer", Department: "Sales", ManagerID: "u-1", Active: true}
	tests := []struct {
		name string
		got  func(v entrasim.UserView) entrasim.UserView
		want []string
	}{
		{name: "equal", got: func(v entrasim.UserView) entrasim.UserView { return v }},
		{name: "title lost", got: func(v entrasim.UserView) entrasim.UserView { v.Title = ""; return v },
			want: []string{`title is "", want "Engineer"`}},
		{name: "disable lost and manager changed", got: func(v entrasim.UserView) entrasim.UserView {
			v.Active, v.ManagerID = false, "u-9"
			return v
		}, want: []string{`manager is "u-9", want "u-1"`, `active is "false", want "true"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, diffUser(want, tt.got(want)))
		})
	}
}

func TestDiffMembers(t *testing.T) {
	tests := []struct {
		name      string
		want, got []string
		diff      []string
	}{
		{name: "same, any order", want: []string{"a", "b"}, got: []string{"b", "a"}},
		{name: "both empty"},
		{name: "an accepted add lost", want: []string{"a", "b"}, got: []string{"a"}, diff: []string{"1 of 2 members missing: [b]"}},
		{name: "a removal lost", want: []string{"a"}, got: []string{"a", "c"}, diff: []string{"1 members not written: [c]"}},
		{name: "duplicate", want: []string{"a"}, got: []string{"a", "a"}, diff: []string{"member a listed twice"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.diff, diffMembers(tt.want, tt.got))
		})
	}
}

func TestMemberValues(t *testing.T) {
	var obj map[string]any
	require.NoError(t, json.Unmarshal([]byte(`{"id":"g","members":[{"value":"u1","$ref":"x","type":"User"},{"value":"u2","display":"B"}]}`), &obj))
	require.Equal(t, []string{"u1", "u2"}, memberValues(obj))
	var empty map[string]any
	require.NoError(t, json.Unmarshal([]byte(`{"id":"g"}`), &empty))
	require.Empty(t, memberValues(empty))
}

func TestCheckTotal(t *testing.T) {
	require.Empty(t, checkTotal(10, 10, 0))
	require.Empty(t, checkTotal(11, 10, 2), "a create without an answer may have committed")
	require.Contains(t, checkTotal(9, 10, 2), "1 lost")
	require.Contains(t, checkTotal(13, 10, 2), "only 10 created")
}

func TestVerifyResult_Merge(t *testing.T) {
	var v verifyResult
	v.merge("tnt_a", nil, 10, 2, 0)
	v.merge("tnt_b", []string{"x", "y"}, 5, 1, 1)
	require.Equal(t, verifyResult{Tenants: 2, Users: 15, Groups: 3, Unverifiable: 1, Mismatches: 2,
		ByTenant: map[string]int{"tnt_b": 2}, Samples: []string{"tnt_b: x", "tnt_b: y"}}, v)
}
