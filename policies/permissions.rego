# The default scimplane permission policy.
#
# It turns a provisioned user and the groups the user belongs to into the
# product's permissions. Most tenants only edit the mapping document
# (data.mapping, shipped as mapping/data.json); admins who need more edit
# this file.
#
# Input (fixed by the worker):
#   input.user    the SCIM user as the worker returns it (id, userName, active,
#                 title, ..., and the enterprise extension under
#                 "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
#   input.groups  [{"id", "externalId", "displayName"}] the user is a member of;
#                 all three keys are always present ("" when unknown)
#
# Mapping document (data.mapping):
#   permission_sets  name -> {"description", "permissions": [string]}
#   grants           [{"name", "group", "sets", "when"}]
#     name   unique short name, reported as the rule that produced a permission
#     group  which group the grant is for, by exactly one of "id",
#            "externalId" or "displayName" (case-insensitive), for example
#            {"displayName": "Forms Designers"}; a matcher with no key, more
#            than one, another key or an empty value matches nothing
#     sets   names of permission sets granted to members of that group
#     when   optional conditions on the user, all of which must hold:
#              {"attribute": A, "equals": V}  the attribute equals V
#              {"attribute": A, "in": [V]}    the attribute equals one of V
#            A is a SCIM attribute path: "title", "name.familyName", or fully
#            qualified with its schema, for example
#            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department".
#            Strings compare case-insensitively; a missing attribute never
#            holds, and a grant with a malformed condition gives nothing.
#
# Users whose "active" is false get no permissions.
#
# mapping_problems lists what is wrong with a mapping document; the worker
# refuses a policy version whose mapping has any.
#
# Output: data.scimplane.permissions.decision
#   {"permissions": [sorted], "sets": [sorted],
#    "grants": [{"permission", "set", "group" (group id), "rule"}]}
# and data.scimplane.permissions.denials, read by the explain feature:
# {"rule", "group", "permission", "reason"} for each permission a grant would
# give through one of the user's groups but does not, and why; a denial
# without "permission" concerns every permission.
#
# To add a rule the mapping cannot express, add another `grants contains`
# rule producing the same objects; decision picks it up unchanged.
package scimplane.permissions

decision := {
	"permissions": sort(permissions),
	"sets": sort(sets),
	"grants": sort(grants),
}

permissions contains g.permission if some g in grants

sets contains g.set if some g in grants

grants contains {"permission": row.permission, "set": row.set, "group": group.id, "rule": row.rule} if {
	user_active
	some group in input.groups
	some key, rows in grant_rows
	some row in object.get(rows, group_value(key, group), set())
	every condition in row.when {
		condition_holds(condition)
	}
}

denials contains {"rule": "inactive", "group": "", "reason": "user is inactive; inactive users get no permissions"} if {
	not user_active
}

denials contains {"rule": row.rule, "group": group.id, "permission": row.permission, "reason": reason} if {
	user_active
	some group in input.groups
	some key, rows in grant_rows
	some row in object.get(rows, group_value(key, group), set())
	some condition in row.when
	not condition_holds(condition)
	reason := sprintf("group %q matches, but the condition on %s does not hold", [group.displayName, condition.attribute])
}

# user_attributes lists the user attributes the decision reads through
# computed paths, as arrays of keys into input.user: those the mapping's
# conditions name. The worker re-evaluates a user only when its groups, one
# of these, or an attribute the policy names directly (input.user.active)
# changes; if you read other attributes through computed paths, list them
# here too.
user_attributes contains c.path if {
	some grant in data.mapping.grants
	some c in conditions(grant)
}

# A user without an "active" attribute counts as active: SCIM makes it optional.
default user_active := true

user_active := false if input.user.active == false

# grant_rows[key][value] is what a grant matching {key: value} gives a member,
# one row per permission; displayName values are lower-cased. It depends on
# data.mapping only, so the worker computes it once per policy version
# (partial evaluation) and a decision costs a few lookups per group.
grant_rows[key][value] contains row if {
	some grant in data.mapping.grants
	count(grant.group) == 1
	some key, raw in grant.group
	value := matcher_value(key, raw)
	some set in grant.sets
	some permission in data.mapping.permission_sets[set].permissions
	row := {"permission": permission, "set": set, "rule": grant.name, "when": conditions(grant)}
}

# conditions turns a grant's "when" into {"attribute", "path", "values"}; it
# is undefined, and the grant gives nothing, if any condition is malformed.
conditions(grant) := parsed if {
	when := object.get(grant, "when", [])
	parsed := [{"attribute": c.attribute, "path": attribute_keys(c.attribute), "values": condition_values(c)} | some c in when]
	count(parsed) == count(when)
}

condition_values(condition) := [condition.equals] if object.keys(condition) == {"attribute", "equals"}

condition_values(condition) := condition["in"] if object.keys(condition) == {"attribute", "in"}

# group_value is a user's group's value for a matcher key.
group_value("id", group) := group.id

group_value("externalId", group) := group.externalId

group_value("displayName", group) := lower(group.displayName)

# matcher_value is a grant matcher's value as group_value gives it.
matcher_value("id", value) := value if value != ""

matcher_value("externalId", value) := value if value != ""

matcher_value("displayName", value) := lower(value) if value != ""

condition_holds(condition) if {
	actual := object.get(input.user, condition.path, null)
	some want in condition.values
	same(actual, want)
}

# attribute_keys turns a SCIM attribute path, optionally prefixed by its
# schema URN ("urn:...:User:department"), into the keys of input.user.
attribute_keys(path) := split(path, ".") if not startswith(path, "urn:")

attribute_keys(path) := array.concat([schema], split(parts[count(parts) - 1], ".")) if {
	startswith(path, "urn:")
	parts := split(path, ":")
	schema := concat(":", array.slice(parts, 0, count(parts) - 1))
}

same(actual, want) if {
	actual != null
	actual == want
}

same(actual, want) if {
	is_string(actual)
	is_string(want)
	lower(actual) == lower(want)
}

mapping_problems contains sprintf("grants[%d]: name must be a non-empty string", [i]) if {
	some i, grant in data.mapping.grants
	not non_empty_string(object.get(grant, "name", null))
}

mapping_problems contains sprintf("grant %q: name is used more than once", [name]) if {
	names := [grant.name | some grant in data.mapping.grants]
	count({name | some name in names}) != count(names)
	some i, name in names
	some j, other in names
	i < j
	name == other
}

mapping_problems contains sprintf("grants[%d]: group must have exactly one of id, externalId or displayName, a non-empty string", [i]) if {
	some i, grant in data.mapping.grants
	not valid_matcher(object.get(grant, "group", null))
}

mapping_problems contains sprintf("grants[%d]: unknown permission set %q", [i, set]) if {
	some i, grant in data.mapping.grants
	some set in grant.sets
	not data.mapping.permission_sets[set]
}

mapping_problems contains sprintf("grants[%d]: when[%d] must be {\"attribute\", \"equals\"} or {\"attribute\", \"in\": [...]}", [i, j]) if {
	some i, grant in data.mapping.grants
	some j, condition in grant.when
	not valid_condition(condition)
}

mapping_problems contains sprintf("permission set %q: permissions must be a list of strings", [name]) if {
	some name, set in data.mapping.permission_sets
	not strings_list(object.get(set, "permissions", null))
}

non_empty_string(s) if {
	is_string(s)
	s != ""
}

valid_matcher(matcher) if {
	is_object(matcher)
	count(matcher) == 1
	some key, value in matcher
	key in {"id", "externalId", "displayName"}
	non_empty_string(value)
}

valid_condition(condition) if {
	non_empty_string(condition.attribute)
	is_array(condition_values(condition))
}

strings_list(xs) if {
	is_array(xs)
	every x in xs {
		is_string(x)
	}
}
