package scimplane.permissions_test

import data.scimplane.permissions

enterprise := "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

alice := {
	"id": "u-1",
	"userName": "alice@example.com",
	"active": true,
	"title": "Engineer",
	enterprise: {"department": "Engineering"},
}

# forms_mapping is the shipped mapping (mapping/data.json) as these tests
# expect it. The tests pin it, so that a tenant who edits only the mapping
# still passes them; test_default_mapping_has_no_problems checks the mapping
# actually in force.
forms_mapping := {
	"permission_sets": {
		"viewer": {
			"description": "See forms and their submissions.",
			"permissions": ["forms.view"],
		},
		"submitter": {
			"description": "Fill in and submit forms.",
			"permissions": ["forms.view", "forms.submit"],
		},
		"designer": {
			"description": "Create and change forms.",
			"permissions": ["forms.view", "forms.submit", "forms.design"],
		},
		"user_admin": {
			"description": "Manage the product's users.",
			"permissions": ["users.manage"],
		},
		"administrator": {
			"description": "Everything, including product settings.",
			"permissions": ["forms.view", "forms.submit", "forms.design", "users.manage", "admin"],
		},
	},
	"grants": [
		{
			"name": "forms-viewers",
			"group": {
				"displayName": "Forms Viewers",
			},
			"sets": ["viewer"],
		},
		{
			"name": "forms-users",
			"group": {
				"displayName": "Forms Users",
			},
			"sets": ["submitter"],
		},
		{
			"name": "forms-designers",
			"group": {
				"displayName": "Forms Designers",
			},
			"sets": ["designer"],
		},
		{
			"name": "hr-user-admins",
			"group": {
				"displayName": "HR",
			},
			"sets": ["user_admin"],
			"when": [
				{
					"attribute": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
					"in": ["Human Resources", "People Operations"],
				},
			],
		},
		{
			"name": "forms-administrators",
			"group": {
				"displayName": "Forms Administrators",
			},
			"sets": ["administrator"],
		},
	],
}

group(id, name) := {"id": id, "externalId": concat("", ["ext-", id]), "displayName": name}

test_no_groups_no_permissions if {
	permissions.decision == {"permissions": [], "sets": [], "grants": []} with input as {"user": alice, "groups": []} with data.mapping as forms_mapping
}

test_unmapped_group_no_permissions if {
	d := permissions.decision with input as {"user": alice, "groups": [group("g-9", "Sales")]} with data.mapping as forms_mapping
	d.permissions == []
}

test_viewer if {
	d := permissions.decision with input as {"user": alice, "groups": [group("g-1", "Forms Viewers")]} with data.mapping as forms_mapping
	d.permissions == ["forms.view"]
	d.sets == ["viewer"]
	d.grants == [{"permission": "forms.view", "set": "viewer", "group": "g-1", "rule": "forms-viewers"}]
}

test_display_name_is_case_insensitive if {
	d := permissions.decision with input as {"user": alice, "groups": [group("g-1", "FORMS designers")]} with data.mapping as forms_mapping
	d.permissions == ["forms.design", "forms.submit", "forms.view"]
	d.sets == ["designer"]
}

test_permissions_union_over_groups if {
	d := permissions.decision with input as {"user": alice, "groups": [
		group("g-1", "Forms Viewers"),
		group("g-2", "Forms Users"),
	]}
		with data.mapping as forms_mapping
	d.permissions == ["forms.submit", "forms.view"]
	d.sets == ["submitter", "viewer"]
	count(d.grants) == 3
}

test_administrator_has_everything if {
	d := permissions.decision with input as {"user": alice, "groups": [group("g-5", "Forms Administrators")]} with data.mapping as forms_mapping
	d.permissions == ["admin", "forms.design", "forms.submit", "forms.view", "users.manage"]
}

test_inactive_user_gets_nothing if {
	bob := object.union(alice, {"active": false})
	d := permissions.decision with input as {"user": bob, "groups": [group("g-5", "Forms Administrators")]} with data.mapping as forms_mapping
	d.permissions == []
	permissions.denials == {{"rule": "inactive", "group": "", "reason": "user is inactive; inactive users get no permissions"}} with input as {"user": bob, "groups": []} with data.mapping as forms_mapping
}

test_missing_active_counts_as_active if {
	carol := object.remove(alice, ["active"])
	d := permissions.decision with input as {"user": carol, "groups": [group("g-1", "Forms Viewers")]} with data.mapping as forms_mapping
	d.permissions == ["forms.view"]
}

test_department_condition_holds if {
	hr := object.union(alice, {enterprise: {"department": "human resources"}})
	d := permissions.decision with input as {"user": hr, "groups": [group("g-4", "HR")]} with data.mapping as forms_mapping
	d.permissions == ["users.manage"]
	d.grants == [{"permission": "users.manage", "set": "user_admin", "group": "g-4", "rule": "hr-user-admins"}]
}

test_department_condition_fails if {
	d := permissions.decision with input as {"user": alice, "groups": [group("g-4", "HR")]} with data.mapping as forms_mapping
	d.permissions == []
	some denial in permissions.denials with input as {"user": alice, "groups": [group("g-4", "HR")]} with data.mapping as forms_mapping
	denial.rule == "hr-user-admins"
	denial.group == "g-4"
	denial.permission == "users.manage"
}

test_department_condition_missing_attribute if {
	dave := object.remove(alice, [enterprise])
	d := permissions.decision with input as {"user": dave, "groups": [group("g-4", "HR")]} with data.mapping as forms_mapping
	d.permissions == []
}

custom_mapping := {
	"permission_sets": {
		"viewer": {"description": "v", "permissions": ["forms.view"]},
		"designer": {"description": "d", "permissions": ["forms.design"]},
	},
	"grants": [
		{"name": "by-id", "group": {"id": "g-1"}, "sets": ["viewer"]},
		{"name": "by-external-id", "group": {"externalId": "ext-g-2"}, "sets": ["designer"]},
		{"name": "engineers", "group": {"displayName": "Engineers"}, "sets": ["designer"], "when": [
			{"attribute": "title", "equals": "Engineer"},
			{"attribute": "active", "equals": true},
		]},
		{"name": "match-all-matches-nothing", "group": {}, "sets": ["designer"]},
		{"name": "unknown-key-matches-nothing", "group": {"name": "x"}, "sets": ["designer"]},
		{"name": "two-keys-match-nothing", "group": {"id": "g-1", "displayName": "whatever"}, "sets": ["designer"]},
		{"name": "unknown-operator-never-holds", "group": {"id": "g-1"}, "sets": ["designer"], "when": [
			{"attribute": "title", "like": "Eng*"},
		]},
	],
}

test_custom_mapping_by_id if {
	d := permissions.decision with input as {"user": alice, "groups": [group("g-1", "whatever")]}
		with data.mapping as custom_mapping
	d.permissions == ["forms.view"]
}

test_custom_mapping_by_external_id if {
	d := permissions.decision with input as {"user": alice, "groups": [group("g-2", "whatever")]}
		with data.mapping as custom_mapping
	d.permissions == ["forms.design"]
}

test_custom_mapping_condition_on_title_and_active if {
	d := permissions.decision with input as {"user": alice, "groups": [group("g-3", "engineers")]}
		with data.mapping as custom_mapping
	d.grants == [{"permission": "forms.design", "set": "designer", "group": "g-3", "rule": "engineers"}]
}

test_custom_mapping_problems if {
	permissions.mapping_problems == {
		"grants[3]: group must have exactly one of id, externalId or displayName, a non-empty string",
		"grants[4]: group must have exactly one of id, externalId or displayName, a non-empty string",
		"grants[5]: group must have exactly one of id, externalId or displayName, a non-empty string",
		`grants[6]: when[0] must be {"attribute", "equals"} or {"attribute", "in": [...]}`,
	} with data.mapping as custom_mapping
}

test_mapping_problems_names_and_sets if {
	m := {
		"permission_sets": {"viewer": {"permissions": ["forms.view", 1]}},
		"grants": [
			{"name": "a", "group": {"id": "g-1"}, "sets": ["viewer", "nope"]},
			{"name": "a", "group": {"id": "g-2"}, "sets": []},
			{"group": {"id": "g-3"}, "sets": []},
		],
	}
	permissions.mapping_problems == {
		`grants[0]: unknown permission set "nope"`,
		`grant "a": name is used more than once`,
		"grants[2]: name must be a non-empty string",
		`permission set "viewer": permissions must be a list of strings`,
	} with data.mapping as m
}

test_custom_mapping_condition_on_title if {
	manager := object.union(alice, {"title": "Manager"})
	d := permissions.decision with input as {"user": manager, "groups": [group("g-3", "Engineers")]}
		with data.mapping as custom_mapping
	d.permissions == []
}

test_nested_attribute_path if {
	m := {
		"permission_sets": {"viewer": {"description": "v", "permissions": ["forms.view"]}},
		"grants": [{"name": "smiths", "group": {"id": "g-1"}, "sets": ["viewer"], "when": [{"attribute": "name.familyName", "in": ["Smith", "Jones"]}]}],
	}
	smith := object.union(alice, {"name": {"familyName": "smith"}})
	d := permissions.decision with input as {"user": smith, "groups": [group("g-1", "x")]} with data.mapping as m
	d.permissions == ["forms.view"]
}

test_unknown_set_grants_nothing if {
	m := {"permission_sets": {}, "grants": [{"name": "g", "group": {"id": "g-1"}, "sets": ["nope"]}]}
	d := permissions.decision with input as {"user": alice, "groups": [group("g-1", "x")]} with data.mapping as m
	d.permissions == []
}

test_default_mapping_has_no_problems if {
	count(permissions.mapping_problems) == 0
}
