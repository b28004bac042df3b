/** The ACL table's promises (SECURITY.md), checked on the table itself; e2e/acl.test.ts checks them on a broker. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TOPICS, type TopicKey } from '../../runtime/topics.ts';
import { ACCESS, aclBindings, kafkaAclsCommands } from './acls.ts';

const writers = (k: TopicKey) => ACCESS.filter((a) => a.write.includes(k)).map((a) => a.principal).sort();
const readers = (k: TopicKey) => ACCESS.filter((a) => a.read.includes(k) && !a.readAll).map((a) => a.principal).sort();

test('each trust-critical topic has exactly the writers the threat model names', () => {
  assert.deepEqual(writers('outboundRaw'), ['scop-ingress'], 'a writer of mail.outbound.raw gets mail DKIM-signed');
  assert.deepEqual(writers('inboundRaw'), ['scop-ingress']);
  // The console republishes signed versions from spam.model.history only (rollback); it has no signing key.
  assert.deepEqual(writers('spamModel'), ['scop-console', 'scop-spam-learner', 'scop-trainer'], 'a writer of spam.model steers the filter (the learner and trainer sign what they publish)');
  // The web console acts for operators (releases, labels, blocks), with the operator's writes.
  assert.deepEqual(writers('spamFeedback'), ['scop-console', 'scop-operator']);
  assert.deepEqual(writers('deliveryRequests'), ['scop-console', 'scop-egress', 'scop-operator'], 'a writer of mail.delivery.requests skips quarantine');
  assert.deepEqual(writers('outboundSigned'), ['scop-dkim-sign']);
  assert.deepEqual(writers('inboundDecided'), ['scop-decision', 'scop-inbound']);
  assert.deepEqual(writers('blocklist'), ['scop-console', 'scop-firewall', 'scop-inbound', 'scop-operator']);
  // The egress reads the raw by reference (MailRecord.rawRef) from where the ingress wrote it.
  assert.deepEqual(readers('outboundRaw'), ['scop-dkim-sign', 'scop-egress']);
  for (const k of Object.keys(TOPICS) as TopicKey[]) {
    assert.ok(writers(k).length > 0, `${TOPICS[k].name} has a writer`);
    // Read by operators only (scop replay, scop quarantine): dead letters, DMARC rows, held mail, the audit trail, SMTP refusals (for dashboards).
    assert.ok(readers(k).length > 0 || ['deliveryDead', 'dmarcEvents', 'deadLetters', 'quarantine', 'audit', 'smtpRefusals'].includes(k), `${TOPICS[k].name} has a reader`);
  }
});

test('no service can join or fence another service\'s groups or transactions', () => {
  const services = ACCESS.filter((a) => !['scop-operator', 'scop-trainer'].includes(a.principal));
  // The fused chain runs instead of its members (never beside them): it is theirs put together.
  const members = new Set(['scop-mime', 'scop-auth', 'scop-spam', 'scop-firewall', 'scop-decision']);
  const alternatives = (a: string, b: string) => (a === 'scop-inbound' && members.has(b)) || (b === 'scop-inbound' && members.has(a));
  for (const a of services) {
    for (const b of services) {
      if (a === b || alternatives(a.principal, b.principal)) continue;
      for (const g of a.groups) for (const h of b.groups) assert.ok(!h.startsWith(g), `${a.principal}'s group prefix ${g} covers ${b.principal}'s ${h}`);
      for (const t of a.transactionalIds) for (const u of b.transactionalIds) assert.ok(!u.startsWith(t), `${a.principal}'s transactional ids cover ${b.principal}'s`);
    }
  }
});

test('kafka-acls.sh commands: one per principal and resource, operations merged', () => {
  const lines = kafkaAclsCommands(aclBindings(), 'kafka:9092', 'admin.properties');
  const events = lines.filter((l) => l.includes('User:scop-firewall') && l.includes('--topic firewall.events '));
  assert.deepEqual(events, ['kafka-acls.sh --bootstrap-server kafka:9092 --command-config admin.properties --add --allow-principal User:scop-firewall --operation Read --operation Write --topic firewall.events --resource-pattern-type literal']);
  assert.ok(lines.some((l) => /User:scop-mime --operation Write --transactional-id scop-mime --resource-pattern-type prefixed$/.test(l)));
  assert.equal(new Set(lines).size, lines.length);
});
