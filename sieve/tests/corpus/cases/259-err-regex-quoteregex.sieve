# expect: compile error
require ["regex", "variables"];
set :quoteregex "q" "4.5";
if header :regex "x-spam-score" "^${q}$" { discard; }
