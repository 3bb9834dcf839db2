# message: spam.eml
require "reject";
if header :contains "subject" "FREE" { reject "spam"; }
