require ["variables", "vacation"];
set "name" "Bob";
vacation text:
Hello,
${name} is away.
.
;
