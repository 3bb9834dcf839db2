# expect: compile error
require "variables";
set "1abc" "x";
