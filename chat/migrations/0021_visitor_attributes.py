from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('chat', '0020_bot_status'),
    ]

    operations = [
        migrations.AddField(
            model_name='visitor',
            name='attributes',
            field=models.JSONField(blank=True, default=dict),
        ),
    ]
