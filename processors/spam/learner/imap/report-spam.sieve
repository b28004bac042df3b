# Dovecot imapsieve: a message moved (or appended) into Junk is reported as spam (processors/spam/README.md).
require ["vnd.dovecot.pipe", "copy", "imapsieve", "environment", "variables"];
if environment :matches "imap.user" "*" { set "username" "${1}"; }
pipe :copy "scop-feedback" ["spam", "${username}"];
