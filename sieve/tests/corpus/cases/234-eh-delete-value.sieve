# message: list.eml
require "editheader";
deleteheader :contains "x-mailing-list" "dig";
if header :is "x-mailing-list" "news" { if not header :is "x-mailing-list" "digest" { discard; } }
