require "variables";
set "x" "abc";
if string :is "${x}" "abc" { discard; }
