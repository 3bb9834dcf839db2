# message: attachment.eml
require "body";
if body :content "text/plain" :contains "invoice attached" { discard; }
