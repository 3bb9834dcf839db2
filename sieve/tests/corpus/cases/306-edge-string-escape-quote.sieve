require "variables";
set "a" "x\"y";
if string :is "${a}" "x\"y" { discard; }
