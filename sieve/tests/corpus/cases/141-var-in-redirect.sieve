require "variables";
set "who" "carol";
redirect "${who}@example.org";
