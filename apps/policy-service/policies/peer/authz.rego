# The sample domain's policies (../*.cedar) in Rego, for OPA as the peer the
# `npm run bench -- peers` comparison measures against. Same job as POST /authenticate:
# verify the HS256 token (signature, iss, aud, exp), then permits and forbids over the
# same entities (data.entities, written from ../entities.json by the benchmark).
# The benchmark refuses to measure unless `decision` agrees with Cedar on the whole
# sample grid. Not loaded by the policy-service (it reads only ../*.cedar).
package portcullis

import rego.v1

# POST /v1/data/portcullis/authenticate with {"input": {"token", "action", "resource", "context"}}.
default authenticate := {"allowed": false, "error": "invalid_token"}

authenticate := {"allowed": allowed, "principal": claims.sub} if {
	[valid, _, claims] := io.jwt.decode_verify(input.token, {
		"secret": data.config.secret,
		"iss": data.config.issuer,
		"aud": data.config.audience,
		"alg": "HS256",
	})
	valid
	allowed := decision with input as {
		"principal": {"id": claims.sub, "roles": object.get(claims, "roles", [])},
		"action": input.action,
		"resource": input.resource,
		"context": object.get(input, "context", {}),
	}
}

# The decision alone, for {"principal": {"id", "roles"}, "action", "resource", "context"}.
default decision := false

decision if {
	permit
	not forbid
}

resource_key := sprintf("%s::%s", [input.resource.type, input.resource.id])

resource := data.entities[resource_key]

has_role(role) if role in input.principal.roles

# Cedar's `resource in Album::"x"`: the resource itself or any ancestor.
resource_in(ancestor) if resource_key == ancestor

resource_in(ancestor) if {
	some key in graph.reachable(data.parents, {resource_key})
	key == ancestor
}

# @id("admin-full-access")
permit if has_role("admin")

# @id("editor-documents")
permit if {
	has_role("editor")
	input.action in {"view", "edit"}
	input.resource.type == "Document"
}

# @id("viewer-read-public")
permit if {
	has_role("viewer")
	input.action == "view"
	resource.isPublic == true
}

# @id("owner-manage")
permit if {
	input.action in {"view", "edit", "delete", "share"}
	resource.owner == sprintf("User::%s", [input.principal.id])
}

# @id("public-album-photos")
permit if {
	input.action == "view"
	input.resource.type == "Photo"
	resource_in("Album::public-gallery")
}

# @id("deny-high-risk")
forbid if input.context.riskScore > 80

# @id("delete-needs-mfa-or-corp-network")
forbid if {
	input.action == "delete"
	not input.context.mfa == true
	not corp_network
}

corp_network if net.cidr_contains("10.0.0.0/8", input.context.sourceIp)

# @id("no-sharing-classified")
forbid if {
	input.action == "share"
	input.resource.type == "Document"
	resource.classification >= 3
}
