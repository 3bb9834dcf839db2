# message: list.eml
require "regex";
if address :regex :domain "from" "^(lists|news)\\." { discard; }
