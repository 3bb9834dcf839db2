# expect: compile error
require "editheader";
addheader "X Bad" "v";
