# The default scimplane permission policy.
#
# It turns a provisioned user and the groups the user belongs to into the
# product's permissions. Most tenants only edit the mapping document
# (data.mapping, shipped as mapping/data.json); admins who need more edit this file.
#
# Input (fixed by the worker):
#   input.user    the SCIM user as the worker returns it (id, userName, active,
#                 title, ..., and the enterprise extension under
#                 "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
#   input.groups  [{"id", "externalId", "displayName"}] the user is a member of
#
# Mapping document (data.mapping):
#   permission_sets  name -> {"description", "permissions": [string]}
#   grants           [{"name", "group", "sets", "when"}]
#     name   short name reported as the rule that produced a permission
#     group  which group the grant is for, by one or more of "id",
#            "externalId" and "displayName" (case-insensitive); every key
#            given must match, and an empty matcher matches nothing
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
	"permissions": sort({g.permission | some g in grants}),
	"sets": sort({g.set | some g in grants}),
	"grants": sort(grants),
}

grants contains {"permission": permission, "set": set, "group": group.id, "rule": name} if {
	user_active
	some i, grant in data.mapping.grants
	some group in input.groups
	group_matches(grant.group, group)
	conditions_hold(grant)
	some set in grant.sets
	some permission in data.mapping.permission_sets[set].permissions
	name := grant_name(i, grant)
}

denials contains {"rule": "inactive", "group": "", "reason": "user is inactive; inactive users get no permissions"} if {
	not user_active
}

denials contains {"rule": grant_name(i, grant), "group": group.id, "permissions": permissions, "reason": reason} if {
	user_active
	some i, grant in data.mapping.grants
	some group in input.groups
	group_matches(grant.group, group)
	some condition in grant.when
	not condition_holds(condition)
	permissions := sort({p | some set in grant.sets; some p in data.mapping.permission_sets[set].permissions})
	reason := sprintf("group %q matches, but the condition on %s does not hold", [group.displayName, condition.attribute])
}

# A user without an "active" attribute counts as active: SCIM makes it optional.
default user_active := true

user_active := false if input.user.active == false

grant_name(_, grant) := grant.name

grant_name(i, grant) := sprintf("grants[%d]", [i]) if not grant.name

group_matches(matcher, group) if {
	count(matcher) > 0
	every key, want in matcher {
		group_key_matches(key, want, group)
	}
}

group_key_matches("id", want, group) if group.id == want

group_key_matches("externalId", want, group) if group.externalId == want

group_key_matches("displayName", want, group) if lower(group.displayName) == lower(want)

conditions_hold(grant) if {
	every condition in object.get(grant, "when", []) {
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
