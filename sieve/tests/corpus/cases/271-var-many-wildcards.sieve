require ["variables", "fileinto"];
if header :matches "subject" "*e*e*i*g*o*F*i*a*y*" { fileinto "${1}-${9}-${10}"; }
