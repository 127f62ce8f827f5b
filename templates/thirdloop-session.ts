/**
 * Third Loop session tracking for opencode (written by `thirdloop setup opencode`;
 * `thirdloop setup opencode --undo` removes it).
 *
 * Sends `x-claude-code-session-id` on every chat request to the Third Loop
 * provider, so the instance's audit log groups an opencode session's requests
 * the way it groups Claude Code's. The value is a UUID derived from opencode's
 * own session ID (UUIDv5-style: SHA-1 of a fixed namespace and the ID), so
 * every request of one session carries the same UUID and nothing is stored.
 * It holds no key and reads no file; its only import is node:crypto.
 */
import { createHash } from "node:crypto"
import type { Plugin } from "@opencode-ai/plugin"

// opencode calls every export of a plugin file as a plugin, so this file
// exports exactly one thing; the helpers below stay private.
const NAMESPACE = "2b27d3e8-a228-41ee-92bb-02512a25b984"
const PROVIDER_ID = "thirdloop"
const HEADER = "x-claude-code-session-id"

function sessionUuid(sessionID: string): string {
  const namespace = Buffer.from(NAMESPACE.replace(/-/g, ""), "hex")
  const hash = createHash("sha1").update(namespace).update(sessionID, "utf8").digest()
  hash[6] = (hash[6]! & 0x0f) | 0x50 // version 5
  hash[8] = (hash[8]! & 0x3f) | 0x80 // RFC 4122 variant
  const hex = hash.subarray(0, 16).toString("hex")
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

export const ThirdloopSession: Plugin = async () => ({
  "chat.headers": async (input, output) => {
    // Only our provider's requests: other providers have no use for the header.
    const providerID = input.provider?.info?.id ?? input.model?.providerID
    if (providerID !== undefined && providerID !== PROVIDER_ID) return
    if (!input.sessionID) return
    output.headers[HEADER] = sessionUuid(input.sessionID)
  },
})
