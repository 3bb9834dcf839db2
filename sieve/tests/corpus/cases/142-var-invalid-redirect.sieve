# expect: runtime error
require "variables";
set "who" "not valid";
redirect "${who}";
