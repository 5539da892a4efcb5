from odm.cli import main

main()
