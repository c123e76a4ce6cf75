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
#            Strings compare case-insensitively; a missing attribute or an
#            unknown operator never holds.
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
# {"rule", "group", "permissions", "reason"} for each grant that matched one of
# the user's groups but did not apply, and why; a denial without
# "permissions" applies to every permission.
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

grants contains {"permission": permission, "set": set, "group": group.id, "rule": grant.name} if {
	user_active
	some [grant, group] in matches
	conditions_hold(grant)
	some set in grant.sets
	some permission in data.mapping.permission_sets[set].permissions
}

denials contains {"rule": "inactive", "group": "", "reason": "user is inactive; inactive users get no permissions"} if {
	not user_active
}

denials contains {"rule": grant.name, "group": group.id, "permissions": permissions, "reason": reason} if {
	user_active
	some [grant, group] in matches
	some condition in grant.when
	not condition_holds(condition)
	permissions := sort({p | some set in grant.sets; some p in data.mapping.permission_sets[set].permissions})
	reason := sprintf("group %q matches, but the condition on %s does not hold", [group.displayName, condition.attribute])
}

# A user without an "active" attribute counts as active: SCIM makes it optional.
default user_active := true

user_active := false if input.user.active == false

# matches holds [grant, group] for every grant whose matcher names one of the
# user's groups. Looking the user's groups up in the *_grants indexes keeps
# the cost proportional to the user's groups, not groups times grants.
matches contains [data.mapping.grants[i], group] if {
	index := display_name_grants
	some group in input.groups
	some i in index[lower(group.displayName)]
}

matches contains [data.mapping.grants[i], group] if {
	index := id_grants
	some group in input.groups
	some i in index[group.id]
}

matches contains [data.mapping.grants[i], group] if {
	index := external_id_grants
	some group in input.groups
	some i in index[group.externalId]
}

display_name_grants[lower(value)] contains i if some i, value in matcher_values("displayName")

id_grants[value] contains i if some i, value in matcher_values("id")

external_id_grants[value] contains i if some i, value in matcher_values("externalId")

# matcher_values maps the index of each grant whose matcher is {key: value}
# to its value.
matcher_values(key) := {i: value |
	some i, grant in data.mapping.grants
	count(grant.group) == 1
	value := grant.group[key]
	value != ""
}

conditions_hold(grant) if not grant.when

conditions_hold(grant) if {
	every condition in grant.when {
		condition_holds(condition)
	}
}

condition_holds(condition) if {
	same(user_attribute(condition.attribute), condition.equals)
}

condition_holds(condition) if {
	actual := user_attribute(condition.attribute)
	some want in condition["in"]
	same(actual, want)
}

# user_attribute resolves a SCIM attribute path, optionally prefixed by its
# schema URN ("urn:...:User:department"), against input.user.
user_attribute(path) := object.get(input.user, attribute_keys(path), null)

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

mapping_problems contains sprintf("grant %q: name is used more than once", [a.name]) if {
	some i, a in data.mapping.grants
	some j, b in data.mapping.grants
	i < j
	a.name == b.name
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
	object.keys(condition) == {"attribute", "equals"}
}

valid_condition(condition) if {
	non_empty_string(condition.attribute)
	object.keys(condition) == {"attribute", "in"}
	is_array(condition["in"])
}

strings_list(xs) if {
	is_array(xs)
	every x in xs {
		is_string(x)
	}
}
